// Derivation -> BuildRequest: the Nix-specific part of a build's set-up, as
// Nix 2.8's LocalDerivationGoal does it. The request is generic
// (builders/build-request.ts); everything Nix puts into a build's
// environment is written out here:
//
//   - PATH=/path-not-set, HOME=/homeless-shelter, NIX_STORE, NIX_BUILD_CORES
//     (the derivation may override these), then the derivation's variables,
//     then NIX_BUILD_TOP, TMPDIR, TEMPDIR, TMP, TEMP, PWD = /build,
//     NIX_OUTPUT_CHECKED=1 and impureEnvVars for fixed-output derivations,
//     NIX_LOG_FD=2, TERM=xterm-256color;
//   - passAsFile: each named variable's value in /build/.attr-<nix32(sha256(name))>,
//     and <name>Path pointing at it;
//   - structured attributes: /build/.attrs.json and /build/.attrs.sh instead
//     of variables (NIX_ATTRS_JSON_FILE / NIX_ATTRS_SH_FILE name them);
//   - exportReferencesGraph: the closure of each named input, as a
//     registration file (plain) or as path-info JSON (structured);
//   - the input closure as inputs, all of its hash parts and the outputs'
//     as reference-scanning needles, the network only for fixed-output
//     derivations.
import { hashBytes } from "../core/hash";
import { type Derivation, isFixedOutput } from "../core/derivation";
import { StorePath } from "../core/store-path";
import type { CastoreNode, NixPathInfo } from "../stores/types";
import type { AdditionalFile, BuildRequest } from "../builders/build-request";
import { JsonNumber, JsonObject, attrsShell, dumpJson, parseJson, type JsonValue } from "./structured-attrs";

export const SANDBOX_BUILD_DIR = "/build";
const HOME_DIR = "/homeless-shelter";

export class DerivationBuildError extends Error {}

/** A path in the build's input closure. */
export interface ClosureEntry {
  info: NixPathInfo;
  node: CastoreNode;
}

export interface BuildRequestContext {
  storeDir: string;
  /** The input closure: every path the build may see (inputSrcs, the used outputs of inputDrvs, and their closures). */
  closure: Map<string, ClosureEntry>;
  /** NIX_BUILD_CORES. */
  cores: number;
  /** The host environment, for a fixed-output derivation's impureEnvVars (default: none). */
  hostEnv?: Record<string, string | undefined>;
  /** sandbox-paths: [host path, path inside the sandbox]. */
  sandboxPaths?: [string, string][];
}

/** The paths whose closure is the build's input closure: inputSrcs and the selected outputs of inputDrvs. */
export function inputRoots(drv: Derivation, outputPath: (drvPath: string, output: string) => string): string[] {
  const roots = new Set(drv.inputSrcs);
  for (const [drvPath, outs] of drv.inputDrvs) for (const o of outs) roots.add(outputPath(drvPath, o));
  return [...roots].sort();
}

/** Whether the derivation uses structured attributes (has `__json`). */
export function structuredAttrsOf(drv: Derivation): JsonObject | null {
  const j = drv.env.get("__json");
  if (j === undefined) return null;
  const v = parseJson(j);
  if (!(v instanceof JsonObject)) throw new DerivationBuildError("the derivation's '__json' is not a JSON object");
  return v;
}

const words = (s: string | undefined) => (s ?? "").split(/[ \t\n\r]+/).filter((w) => w !== "");

function jsonStrings(v: JsonValue | undefined, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new DerivationBuildError(`attribute '${what}' must be a list of strings`);
  return v as string[];
}

/** A derivation's boolean attribute (`__noChroot`, `preferLocalBuild`, ...), plain or structured. */
export function boolAttr(drv: Derivation, name: string, attrs = structuredAttrsOf(drv)): boolean {
  if (attrs) return attrs.entries.get(name) === true;
  return drv.env.get(name) === "1";
}

/** `requiredSystemFeatures`. */
export function requiredFeatures(drv: Derivation, attrs = structuredAttrsOf(drv)): string[] {
  if (attrs) return jsonStrings(attrs.entries.get("requiredSystemFeatures"), "requiredSystemFeatures") ?? [];
  return words(drv.env.get("requiredSystemFeatures"));
}

/** What Nix checks on an output after the build (allowedReferences and friends, maxSize...). */
export interface OutputChecks {
  allowedReferences?: string[];
  allowedRequisites?: string[];
  disallowedReferences?: string[];
  disallowedRequisites?: string[];
  maxSize?: number;
  maxClosureSize?: number;
  /** Plain derivations: a path's own self-reference is left out of requisite checks. */
  ignoreSelfRefs: boolean;
}

/** The checks for each output: plain attributes apply to all outputs; structured ones come from `outputChecks.<output>`. */
export function outputChecks(drv: Derivation, attrs = structuredAttrsOf(drv)): Map<string, OutputChecks> {
  const out = new Map<string, OutputChecks>();
  if (!attrs) {
    const list = (n: string) => (drv.env.has(n) ? words(drv.env.get(n)) : undefined);
    const checks: OutputChecks = {
      allowedReferences: list("allowedReferences"),
      allowedRequisites: list("allowedRequisites"),
      disallowedReferences: list("disallowedReferences"),
      disallowedRequisites: list("disallowedRequisites"),
      ignoreSelfRefs: true,
    };
    for (const name of drv.outputs.keys()) out.set(name, checks);
    return out;
  }
  const all = attrs.entries.get("outputChecks");
  for (const name of drv.outputs.keys()) {
    const c = all instanceof JsonObject ? all.entries.get(name) : undefined;
    if (!(c instanceof JsonObject)) {
      out.set(name, { ignoreSelfRefs: false });
      continue;
    }
    const num = (k: string) => {
      const v = c.entries.get(k);
      if (v === undefined) return undefined;
      if (!(v instanceof JsonNumber) || !v.isInteger) throw new DerivationBuildError(`attribute '${k}' of output '${name}' must be an integer`);
      return Number(v.text);
    };
    out.set(name, {
      allowedReferences: jsonStrings(c.entries.get("allowedReferences"), "allowedReferences"),
      allowedRequisites: jsonStrings(c.entries.get("allowedRequisites"), "allowedRequisites"),
      disallowedReferences: jsonStrings(c.entries.get("disallowedReferences"), "disallowedReferences") ?? [],
      disallowedRequisites: jsonStrings(c.entries.get("disallowedRequisites"), "disallowedRequisites") ?? [],
      maxSize: num("maxSize"),
      maxClosureSize: num("maxClosureSize"),
      ignoreSelfRefs: false,
    });
  }
  return out;
}

/** The closure of `roots` within the input closure, sorted. */
function closureWithin(roots: string[], ctx: BuildRequestContext, what: string): string[] {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (seen.has(p)) continue;
    const e = ctx.closure.get(p);
    if (!e) throw new DerivationBuildError(`cannot export references of path '${p}' (${what}): it is not in the input closure`);
    seen.add(p);
    todo.push(...e.info.references);
  }
  return [...seen].sort();
}

/** The store path part of a path that may lie inside one; throws for non-store paths. */
function storePathOf(p: string, storeDir: string, what: string): string {
  const prefix = storeDir + "/";
  if (!p.startsWith(prefix)) throw new DerivationBuildError(`'${what}' contains a non-store path '${p}'`);
  const slash = p.indexOf("/", prefix.length);
  const sp = slash < 0 ? p : p.slice(0, slash);
  StorePath.parseAbsolute(sp, storeDir);
  return sp;
}

/** The paths an exportReferencesGraph entry covers: the closure, plus the outputs of any .drv in it (as Nix). */
function exportedClosure(path: string, ctx: BuildRequestContext): string[] {
  const sp = storePathOf(path, ctx.storeDir, "exportReferencesGraph");
  if (!ctx.closure.has(sp)) throw new DerivationBuildError(`cannot export references of path '${sp}' because it is not in the input closure of the derivation`);
  const paths = closureWithin([sp], ctx, "exportReferencesGraph");
  if (paths.some((p) => p.endsWith(".drv"))) throw new DerivationBuildError("not implemented: exportReferencesGraph of a closure that contains .drv files");
  return paths;
}

/** Nix's makeValidityRegistration(paths, showDerivers=false, showHash=false). */
function registrationText(paths: string[], ctx: BuildRequestContext): string {
  let s = "";
  for (const p of paths) {
    const refs = [...ctx.closure.get(p)!.info.references].sort();
    s += `${p}\n\n${refs.length}\n` + refs.map((r) => r + "\n").join("");
  }
  return s;
}

/** Nix 2.8's pathInfoToJSON(paths, includeImpureInfo=false, showClosureSize=true). */
function pathInfoJson(paths: string[], ctx: BuildRequestContext): JsonValue {
  return paths.map((p) => {
    const info = ctx.closure.get(p)!.info;
    const o = new JsonObject();
    o.entries.set("path", p);
    o.entries.set("narHash", info.narHash);
    o.entries.set("narSize", new JsonNumber(String(info.narSize)));
    o.entries.set("references", [...info.references].sort());
    if (info.ca) o.entries.set("ca", info.ca);
    const size = closureWithin([p], ctx, "closure size").reduce((n, q) => n + ctx.closure.get(q)!.info.narSize, 0);
    o.entries.set("closureSize", new JsonNumber(String(size)));
    return o;
  });
}

const FILE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Translates a derivation (with output paths filled in) into a BuildRequest. */
export function buildRequestFor(drv: Derivation, drvPath: string, ctx: BuildRequestContext): BuildRequest {
  const enc = new TextEncoder();
  const attrs = structuredAttrsOf(drv);
  if (boolAttr(drv, "__noChroot", attrs))
    throw new DerivationBuildError(`derivation '${drvPath}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'`);
  const outputs = new Map<string, string>();
  for (const [name, o] of drv.outputs) {
    if (!o.path) throw new DerivationBuildError(`not implemented: building '${drvPath}', whose output '${name}' has no path (content-addressed derivations)`);
    outputs.set(name, o.path);
  }
  const fixed = isFixedOutput(drv);
  const env = new Map<string, string>([
    ["PATH", "/path-not-set"],
    ["HOME", HOME_DIR],
    ["NIX_STORE", ctx.storeDir],
    ["NIX_BUILD_CORES", String(ctx.cores)],
  ]);
  const files: AdditionalFile[] = [];
  const at = (name: string) => `${SANDBOX_BUILD_DIR}/${name}`;

  if (!attrs) {
    const passAsFile = new Set(words(drv.env.get("passAsFile")));
    for (const [k, v] of drv.env) {
      if (passAsFile.has(k)) {
        const fn = `.attr-${hashBytes("sha256", k).toNixBase32()}`;
        files.push({ path: at(fn), contents: enc.encode(v), owner: "builder" });
        env.set(k + "Path", at(fn));
      } else env.set(k, v);
    }
    const erg = words(drv.env.get("exportReferencesGraph"));
    if (erg.length % 2 !== 0) throw new DerivationBuildError(`odd number of tokens in 'exportReferencesGraph': '${drv.env.get("exportReferencesGraph")}'`);
    for (let i = 0; i < erg.length; i += 2) {
      const [name, path] = [erg[i], erg[i + 1]];
      if (!FILE_NAME.test(name)) throw new DerivationBuildError(`invalid file name '${name}' in 'exportReferencesGraph'`);
      files.push({ path: at(name), contents: enc.encode(registrationText(exportedClosure(path, ctx), ctx)), owner: "root" });
    }
  } else {
    const json = new JsonObject();
    for (const [k, v] of attrs.entries) json.entries.set(k, v);
    const outs = new JsonObject();
    for (const [name, p] of outputs) outs.entries.set(name, p);
    json.entries.set("outputs", outs);
    const erg = attrs.entries.get("exportReferencesGraph");
    if (erg !== undefined) {
      if (!(erg instanceof JsonObject)) throw new DerivationBuildError("'exportReferencesGraph' must be an attribute set when using structured attributes");
      for (const [name, v] of erg.entries) {
        const list = typeof v === "string" ? [v] : jsonStrings(v, "exportReferencesGraph");
        const paths = new Set<string>();
        for (const p of list!) for (const q of exportedClosure(p, ctx)) paths.add(q);
        json.entries.set(name, pathInfoJson([...paths].sort(), ctx));
      }
    }
    files.push({ path: at(".attrs.json"), contents: enc.encode(dumpJson(json)), owner: "builder" });
    files.push({ path: at(".attrs.sh"), contents: enc.encode(attrsShell(json)), owner: "builder" });
    env.set("NIX_ATTRS_JSON_FILE", at(".attrs.json"));
    env.set("NIX_ATTRS_SH_FILE", at(".attrs.sh"));
  }
  for (const k of ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"]) env.set(k, SANDBOX_BUILD_DIR);
  if (fixed) {
    env.set("NIX_OUTPUT_CHECKED", "1");
    const impure = attrs ? jsonStrings(attrs.entries.get("impureEnvVars"), "impureEnvVars") ?? [] : words(drv.env.get("impureEnvVars"));
    for (const v of impure) env.set(v, ctx.hostEnv?.[v] ?? "");
  }
  env.set("NIX_LOG_FD", "2");
  env.set("TERM", "xterm-256color");

  const inputs = [...ctx.closure].map(([p, e]) => ({ name: p.slice(ctx.storeDir.length + 1), node: e.node }));
  inputs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const needlePaths = [...ctx.closure.keys(), ...outputs.values()];
  return {
    command: [drv.builder, ...drv.args],
    workingDir: SANDBOX_BUILD_DIR,
    env: [...env].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    inputs,
    inputsDir: ctx.storeDir,
    outputs: [...outputs.values()],
    scratchPaths: [SANDBOX_BUILD_DIR, ctx.storeDir, "/tmp"],
    additionalFiles: files,
    constraints: {
      system: drv.system,
      networkAccess: fixed,
      requiredFeatures: requiredFeatures(drv, attrs),
      availableRoPaths: ctx.sandboxPaths ?? [],
    },
    refscanNeedles: [...new Set(needlePaths.map((p) => p.slice(ctx.storeDir.length + 1, ctx.storeDir.length + 33)))],
  };
}
