// derivationStrict and the `derivation` wrapper, as C++ Nix 2.26: attributes
// become the environment (or __json with __structuredAttrs), string context
// becomes inputs, and output/drv paths are computed with core/derivation.
import type { Pos } from "../eval/ast";
import { EvalError, Lazy, NixAttrs, forceAttrs, NixString, Thunk, Value, force, forceBool, forceList, forceStringValue, strValue, ctxOf } from "../eval/value";
import type { BuiltinExtension } from "../eval/builtins/registry";
import type { EvalState } from "../eval/state";
import { coerceToString } from "../eval/coerce";
import { toJSON, jsonString } from "../eval/builtins/json";
import { Derivation, derivationReferences, derivationTextAndModulo, instantiateDerivation, printDerivation } from "../core/derivation";
import { Hash, HASH_SIZES, HashAlgo, hashBytes } from "../core/hash";
import { validateStorePathName, makeFixedOutputPath } from "../core/store-path";
import { parse } from "../eval/parser";
import { passFatal } from "../eval/limits";
import type { Glue } from "./context";

// The `derivation` function of Nix's corepkgs, in Nix: it wraps
// derivationStrict so that each output is a set sharing drvAttrs.
const DERIVATION_NIX = `
drvAttrs@{ outputs ? [ "out" ], ... }:
let
  strict = derivationStrict drvAttrs;
  commonAttrs = drvAttrs // (builtins.listToAttrs outputsList) // {
    all = map (x: x.value) outputsList;
    inherit drvAttrs;
  };
  outputToAttrListElement = outputName: {
    name = outputName;
    value = commonAttrs // {
      outPath = builtins.getAttr outputName strict;
      drvPath = strict.drvPath;
      type = "derivation";
      inherit outputName;
    };
  };
  outputsList = map outputToAttrListElement outputs;
in (builtins.head outputsList).value
`;

/** derivationStrict and `derivation`, over the glue's store and known derivations. */
export function derivationBuiltins(glue: Glue): BuiltinExtension {
  return {
    register(def) {
      def("derivationStrict", 1, ([a], pos, state) => derivationStrict(glue, state, a, pos));
    },
    values: (state) => [["derivation", Thunk.of(() => state.evalExpr(parse(DERIVATION_NIX, "<nix/derivation-internal.nix>", "/")))]],
  };
}

/** Attributes that __structuredAttrs ignores (outputChecks replaces them): Nix warns about them. */
const OUTPUT_CHECKS = new Set(["allowedReferences", "allowedRequisites", "disallowedReferences", "disallowedRequisites", "maxSize", "maxClosureSize"]);

const HASH_ALGOS = ["md5", "sha1", "sha256", "sha512"] as const;

/** A context element as Nix prints it in errors: "hash-name", "=hash-name.drv", "!out!hash-name.drv". */
export function showContextElem(c: string): string {
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  if (c.startsWith("=")) return "=" + base(c.slice(1));
  if (c.startsWith("!")) {
    const j = c.indexOf("!", 1);
    return c.slice(0, j + 1) + base(c.slice(j + 1));
  }
  return base(c);
}

function fail(msg: string, name: string, pos: Pos | null): EvalError {
  return new EvalError(msg, pos).addTrace(`while evaluating the derivation '${name}'`, pos);
}

/** An input derivation (known, or read from the store), with Nix's error when it cannot be read. */
function inputDrv(glue: Glue, drvPath: string, pos: Pos | null): Derivation {
  try {
    return glue.drvs.get(drvPath);
  } catch (e) {
    passFatal(e);
    throw new EvalError(`cannot read derivation '${drvPath}': ${(e as Error).message}`, pos);
  }
}

function derivationStrict(glue: Glue, state: EvalState, a: Lazy, pos: Pos | null): Value {
  const attrs = forceAttrs(a, pos);
  const nameL = attrs.get("name");
  if (nameL === undefined) throw new EvalError("required attribute 'name' missing", pos);
  const nameV = forceStringValue(nameL, pos);
  const drvName = strValue(nameV);
  if (ctxOf(nameV).size)
    throw new EvalError(`the string '${drvName}' is not allowed to refer to a store path (such as '${showContextElem([...ctxOf(nameV)][0])}')`, pos).addTrace(
      "while evaluating the `name` attribute passed to builtins.derivationStrict",
      pos,
    );
  try {
    validateStorePathName(drvName);
  } catch (e) {
    passFatal(e);
    throw fail(`invalid derivation name: ${(e as Error).message}. Please pass a different 'name'.`, drvName, pos);
  }
  // as Nix: __structuredAttrs is looked at before __ignoreNulls
  const structuredL = attrs.get("__structuredAttrs");
  const structured = structuredL !== undefined && forceBool(structuredL, pos);
  const ignoreNullsL = attrs.get("__ignoreNulls");
  const ignoreNulls = ignoreNullsL !== undefined && forceBool(ignoreNullsL, pos);

  const ctx = new Set<string>();
  const env = new Map<string, string>();
  const json: string[] = [];
  const drv: Derivation = { outputs: new Map(), inputDrvs: new Map(), inputSrcs: [], system: "", builder: "", args: [], env };
  let outputHash: string | undefined;
  let outputHashAlgo: HashAlgo | undefined;
  let hashMode: "flat" | "recursive" | "text" | undefined;
  let outputs = ["out"];

  const coerce = (l: Lazy) => {
    const s = coerceToString(state, l, pos, { coerceMore: true, copyToStore: true });
    for (const c of ctxOf(s)) ctx.add(c);
    return strValue(s);
  };
  const noCtx = (l: Lazy, what: string) => {
    const s = forceStringValue(l, pos);
    if (ctxOf(s).size)
      throw fail(`the string '${strValue(s)}' is not allowed to refer to a store path (such as '${showContextElem([...ctxOf(s)][0])}'), while evaluating ${what}`, drvName, pos);
    return strValue(s);
  };
  const setOutputs = (list: string[]) => {
    // Nix 2.26 checks duplicates before the name 'drvPath' (which would clash
    // with the drvPath attribute of the result); 'drv' is an ordinary name.
    const seen = new Set<string>();
    for (const o of list) {
      if (seen.has(o)) throw fail(`duplicate derivation output '${o}'`, drvName, pos);
      if (o === "drvPath") throw fail(`invalid derivation output name 'drvPath'`, drvName, pos);
      seen.add(o);
    }
    if (list.length === 0) throw fail(`derivation cannot have an empty set of outputs`, drvName, pos);
    outputs = list;
  };
  // Nix 2.26: "recursive" (the old name of "nar"), "nar", "flat", "text"
  // (needs dynamic-derivations) and "git" (needs git-hashing).
  const setHashMode = (m: string) => {
    if (m === "recursive" || m === "nar") hashMode = "recursive";
    else if (m === "flat") hashMode = "flat";
    else if (m === "text") hashMode = "text";
    else if (m === "git") throw experimental("git-hashing");
    else throw fail(`invalid value '${m}' for 'outputHashMode' attribute`, drvName, pos);
    if (hashMode === "text") throw experimental("dynamic-derivations");
  };
  const experimental = (feature: string) =>
    fail(`experimental Nix feature '${feature}' is disabled; add '--extra-experimental-features ${feature}' to enable it`, drvName, pos);
  // parseHashAlgoOpt: an unknown algorithm is no error here, just no algorithm
  // (the hash must then say which one it is).
  const setAlgo = (s: string) => {
    outputHashAlgo = (HASH_ALGOS as readonly string[]).includes(s) ? (s as HashAlgo) : undefined;
  };

  for (const key of attrs.keys()) {
    if (key === "__ignoreNulls") continue;
    const l = attrs.get(key)!;
    try {
      if (ignoreNulls && force(l) === null) continue;
      if (key === "__contentAddressed" && forceBool(l, pos)) throw experimental("ca-derivations");
      if (key === "__impure" && forceBool(l, pos)) throw experimental("impure-derivations");
      if (key === "args") {
        for (const e of forceList(l, pos)) drv.args.push(coerce(e));
        continue;
      }
      if (structured) {
        if (key === "__structuredAttrs") continue;
        json.push(jsonString(key) + ":" + toJSON(state, l, pos, ctx));
        if (key === "builder") {
          const s = forceStringValue(l, pos);
          for (const c of ctxOf(s)) ctx.add(c);
          drv.builder = strValue(s);
        } else if (key === "system") drv.system = noCtx(l, "the `system` attribute");
        else if (key === "outputHash") outputHash = noCtx(l, "the `outputHash` attribute");
        else if (key === "outputHashAlgo") setAlgo(noCtx(l, "the `outputHashAlgo` attribute"));
        else if (key === "outputHashMode") setHashMode(noCtx(l, "the `outputHashMode` attribute"));
        else if (key === "outputs") setOutputs(forceList(l, pos).map((o) => noCtx(o, "an output name")));
        if (OUTPUT_CHECKS.has(key))
          state.traceSink(
            `warning: In a derivation named '${drvName}', 'structuredAttrs' disables the effect of the derivation attribute '${key}'; use 'outputChecks.<output>.${key}' instead`,
          );
      } else {
        const s = coerce(l);
        env.set(key, s);
        if (key === "builder") drv.builder = s;
        else if (key === "system") drv.system = s;
        else if (key === "outputHash") outputHash = s;
        else if (key === "outputHashAlgo") setAlgo(s);
        else if (key === "outputHashMode") setHashMode(s);
        else if (key === "outputs") setOutputs(s.split(/[ \t\n\r]+/).filter((x) => x !== ""));
      }
    } catch (e) {
      if (e instanceof EvalError) e.addTrace(`while evaluating attribute '${key}' of derivation '${drvName}'`, pos);
      throw e;
    }
  }
  if (structured) env.set("__json", "{" + json.join(",") + "}");

  // string context -> inputs
  const inputSrcs = new Set<string>();
  for (const c of ctx) {
    if (c.startsWith("=")) {
      const drvPath = c.slice(1);
      inputDrv(glue, drvPath, pos);
      for (const p of glue.drvs.closure(drvPath)) {
        inputSrcs.add(p);
        // all outputs of every derivation in the closure (read from the store
        // when it was not instantiated by this evaluation)
        if (p.endsWith(".drv")) drv.inputDrvs.set(p, [...inputDrv(glue, p, pos).outputs.keys()].sort());
      }
    } else if (c.startsWith("!")) {
      const j = c.indexOf("!", 1);
      const out = c.slice(1, j);
      const drvPath = c.slice(j + 1);
      const prev = drv.inputDrvs.get(drvPath) ?? [];
      if (!prev.includes(out)) drv.inputDrvs.set(drvPath, [...prev, out].sort());
    } else inputSrcs.add(c);
  }
  drv.inputSrcs = [...inputSrcs].sort();

  if (drv.builder === "") throw fail("required attribute 'builder' missing", drvName, pos);
  if (drv.system === "") throw fail("required attribute 'system' missing", drvName, pos);
  if (drvName.endsWith(".drv") && !(hashMode === "text" && outputs.length === 1 && outputs[0] === "out"))
    throw fail(`derivation names are allowed to end in '.drv' only if they produce a single derivation file`, drvName, pos);

  const storeDir = state.options.storeDir;
  let printed: { text: string; modulo: Hash } | undefined;
  if (outputHash !== undefined) {
    if (outputs.length !== 1 || outputs[0] !== "out") throw fail("multiple outputs are not supported in fixed-output derivations", drvName, pos);
    let h: Hash;
    if (outputHash === "") {
      // newHashAllowEmpty
      if (outputHashAlgo === undefined) throw fail("empty hash requires explicit hash algorithm", drvName, pos);
      h = new Hash(outputHashAlgo, new Uint8Array(HASH_SIZES[outputHashAlgo]));
      state.traceSink(`warning: found empty hash, assuming '${h.format("sri", true)}'`);
    } else {
      try {
        h = Hash.parse(outputHash, outputHashAlgo);
      } catch (e) {
        passFatal(e);
        throw fail((e as Error).message, drvName, pos);
      }
    }
    const method = hashMode ?? "flat";
    if (method === "text") throw fail("experimental Nix feature 'dynamic-derivations' is disabled; text-hashed fixed-output derivations need it", drvName, pos);
    const path = makeFixedOutputPath(drvName, h, method === "recursive", [], storeDir).toAbsolute(storeDir);
    env.set("out", path);
    drv.outputs.set("out", { path, hashAlgo: (method === "recursive" ? "r:" : "") + h.algo, hash: h.toBase16() });
  } else {
    if (outputHashAlgo || hashMode) {
      // outputHashAlgo/Mode without outputHash: plain input-addressed (Nix ignores them too)
    }
    for (const o of outputs) {
      env.set(o, "");
      drv.outputs.set(o, { path: "", hashAlgo: "", hash: "" });
    }
    for (const o of outputs) {
      const outName = o === "out" ? drvName : `${drvName}-${o}`;
      try {
        validateStorePathName(outName);
      } catch (e) {
        passFatal(e);
        throw fail(`path '${"0".repeat(32)}-${outName}' is not a valid store path: ${(e as Error).message}`, drvName, pos);
      }
    }
    for (const p of drv.inputDrvs.keys()) inputDrv(glue, p, pos);
    try {
      printed = instantiateDerivation(drv, drvName, glue.drvs.moduloHash, storeDir);
    } catch (e) {
      passFatal(e);
      throw fail((e as Error).message, drvName, pos);
    }
  }

  // the text is hashed now and made again only if the .drv is read or written
  const { text, modulo } = printed ?? derivationTextAndModulo(drv, glue.drvs.moduloHash);
  const drvPath = glue.io.addText(`${drvName}.drv`, () => printDerivation(drv), derivationReferences(drv), hashBytes("sha256", text));
  glue.drvs.add(drvPath, drv, modulo);
  glue.io.noteOutputs(drvPath, [...drv.outputs].map(([o, out]) => [o, out.path]));
  const result = new Map<string, Lazy>();
  result.set("drvPath", new NixString(drvPath, new Set(["=" + drvPath])));
  for (const [o, out] of drv.outputs) result.set(o, new NixString(out.path, new Set([`!${o}!${drvPath}`])));
  return NixAttrs.fromMap(result);
}

