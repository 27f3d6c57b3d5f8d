// Derivations: the ATerm `.drv` format, hashDerivationModulo, and the output
// and .drv path computations, exactly as C++ Nix.
import { Hash, hashBytes, parseHashAlgo } from "./hash";
import { DEFAULT_STORE_DIR, StorePath, makeFixedOutputPath, makeOutputPath, makeTextPath } from "./store-path";

export interface DerivationOutput {
  /** Absolute store path, or "" before it is computed (or for deferred outputs). */
  path: string;
  /** "" for input-addressed outputs; otherwise "[r:|text:]algo". */
  hashAlgo: string;
  /** Base16 digest for fixed-output derivations, else "". */
  hash: string;
}

export interface Derivation {
  outputs: Map<string, DerivationOutput>;
  /** Absolute .drv path -> output names. */
  inputDrvs: Map<string, string[]>;
  /** Absolute store paths. */
  inputSrcs: string[];
  system: string;
  builder: string;
  args: string[];
  env: Map<string, string>;
}

export class DerivationParseError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`error parsing derivation: ${message} at offset ${offset}`);
    this.name = "DerivationParseError";
  }
}

// ---------------------------------------------------------------- printing

const NEEDS_ESCAPE = /["\\\n\r\t]/;
const ESCAPES = /["\\\n\r\t]/g;
const ESCAPED: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };
const escapeChar = (c: string): string => ESCAPED[c];

/** An ATerm string: most need no escape (one regex test); the rest are rebuilt flat in one pass (a setup script has thousands of newlines). */
function escape(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  return '"' + s.replace(ESCAPES, escapeChar) + '"';
}

/** A map's keys in Nix's order (byte order of their UTF-8, as std::map<std::string>). */
const sortedKeys = (m: Map<string, unknown>): string[] => sortByBytes([...m.keys()]);
const strList = (l: readonly string[]): string => {
  let out = "[";
  for (let i = 0; i < l.length; i++) out += (i ? "," : "") + escape(l[i]);
  return out + "]";
};

export interface PrintOptions {
  /** Print output paths (and the env vars named like outputs) as "". */
  maskOutputs?: boolean;
  /** Print these instead of inputDrvs (keys printed as-is, e.g. modulo hashes). */
  inputDrvReplacements?: Map<string, string[]>;
}

/** The ATerm text of a derivation, byte-identical to Nix's unparse. */
export function printDerivation(drv: Derivation, opts: PrintOptions = {}): string {
  const mask = opts.maskOutputs === true;
  return joinSections(printOutputs(drv, mask), printInputDrvs(opts.inputDrvReplacements ?? drv.inputDrvs), printRest(drv, mask));
}

const joinSections = (outputs: string, inputDrvs: string, rest: string): string => "Derive(" + outputs + "," + inputDrvs + "," + rest + ")";

function printOutputs(drv: Derivation, mask: boolean): string {
  let out = "[";
  let first = true;
  for (const name of sortedKeys(drv.outputs)) {
    const o = drv.outputs.get(name)!;
    out += `${first ? "" : ","}(${escape(name)},${escape(mask ? "" : o.path)},${escape(o.hashAlgo)},${escape(o.hash)})`;
    first = false;
  }
  return out + "]";
}

function printInputDrvs(inputs: Map<string, string[]>): string {
  let out = "[";
  let first = true;
  for (const p of sortedKeys(inputs)) {
    out += `${first ? "" : ","}(${escape(p)},${strList(sortByBytes([...inputs.get(p)!]))})`;
    first = false;
  }
  return out + "]";
}

/** Input sources, system, builder, args and environment. */
function printRest(drv: Derivation, mask: boolean): string {
  let out = strList(sortByBytes([...drv.inputSrcs])) + "," + escape(drv.system) + "," + escape(drv.builder) + "," + strList(drv.args) + ",[";
  let first = true;
  for (const k of sortedKeys(drv.env)) {
    out += `${first ? "" : ","}(${escape(k)},${escape(mask && drv.outputs.has(k) ? "" : drv.env.get(k)!)})`;
    first = false;
  }
  return out + "]";
}

/**
 * Sorts strings in place by the bytes of their UTF-8 (UTF-16 order is the
 * same unless a string has a code unit from U+D800 up). Strings already in
 * order (a derivation's environment comes from a sorted attribute set) cost
 * one pass.
 */
function sortByBytes(l: string[]): string[] {
  let sorted = true;
  for (let i = 1; i < l.length; i++) if (!(l[i - 1] < l[i])) sorted = false;
  for (const x of l) if (/[\ud800-\uffff]/.test(x)) return l.sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
  return sorted ? l : l.sort();
}

// ---------------------------------------------------------------- parsing

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(msg: string): never {
    throw new DerivationParseError(msg, this.i);
  }

  expect(lit: string): void {
    if (!this.s.startsWith(lit, this.i)) this.fail(`expected '${lit}'`);
    this.i += lit.length;
  }

  peek(c: string): boolean {
    return this.s[this.i] === c;
  }

  str(): string {
    this.expect('"');
    let out = "";
    let start = this.i;
    for (;;) {
      if (this.i >= this.s.length) this.fail("unterminated string");
      const c = this.s.charCodeAt(this.i);
      if (c === 34) break;
      if (c === 92) {
        out += this.s.slice(start, this.i);
        const n = this.s[this.i + 1];
        if (n === undefined) this.fail("unterminated escape");
        out += n === "n" ? "\n" : n === "r" ? "\r" : n === "t" ? "\t" : n;
        this.i += 2;
        start = this.i;
      } else this.i++;
    }
    out += this.s.slice(start, this.i);
    this.i++;
    return out;
  }

  path(): string {
    const p = this.str();
    if (!p.startsWith("/")) this.fail(`bad path '${p}' in derivation`);
    return p;
  }

  list<T>(item: () => T): T[] {
    this.expect("[");
    const out: T[] = [];
    if (this.peek("]")) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.peek(",")) this.i++;
      else if (this.peek("]")) {
        this.i++;
        return out;
      } else this.fail("expected ',' or ']'");
    }
  }
}

/** Parses the ATerm text of a .drv file. Throws DerivationParseError. */
export function parseDerivation(text: string): Derivation {
  const p = new Parser(text);
  p.expect("Derive(");
  const outputs = new Map<string, DerivationOutput>();
  p.list(() => {
    p.expect("(");
    const name = p.str();
    p.expect(",");
    const start = p.i;
    const path = p.str();
    if (path !== "" && !path.startsWith("/")) {
      p.i = start;
      p.fail(`bad output path '${path}'`);
    }
    p.expect(",");
    const hashAlgo = p.str();
    p.expect(",");
    const hash = p.str();
    p.expect(")");
    if (outputs.has(name)) p.fail(`duplicate output '${name}'`);
    outputs.set(name, { path, hashAlgo, hash });
  });
  p.expect(",");
  const inputDrvs = new Map<string, string[]>();
  p.list(() => {
    p.expect("(");
    const drvPath = p.path();
    p.expect(",");
    const outs = p.list(() => p.str());
    p.expect(")");
    if (inputDrvs.has(drvPath)) p.fail(`duplicate input derivation '${drvPath}'`);
    inputDrvs.set(drvPath, outs);
  });
  p.expect(",");
  const inputSrcs = p.list(() => p.path());
  p.expect(",");
  const system = p.str();
  p.expect(",");
  const builder = p.str();
  p.expect(",");
  const args = p.list(() => p.str());
  p.expect(",");
  const env = new Map<string, string>();
  p.list(() => {
    p.expect("(");
    const k = p.str();
    p.expect(",");
    const v = p.str();
    p.expect(")");
    env.set(k, v);
  });
  p.expect(")");
  if (p.i !== text.length) p.fail("trailing data after the derivation");
  return { outputs, inputDrvs, inputSrcs, system, builder, args, env };
}

// ---------------------------------------------------------------- hashing

/** A derivation with exactly one output "out" that has a fixed hash. */
export function isFixedOutput(drv: Derivation): boolean {
  if (drv.outputs.size !== 1) return false;
  const out = drv.outputs.get("out");
  return out !== undefined && out.hash !== "";
}

/**
 * Nix's hashDerivationModulo: fixed-output derivations hash to their fixed
 * output (so changing how a FOD is fetched does not change dependents);
 * others hash their ATerm with each input derivation replaced by its own
 * modulo hash. `inputModulo` gives an input .drv's (unmasked) modulo hash:
 * callers memoize it per .drv path, as C++ Nix does (see moduloHashes).
 */
export function hashDerivationModulo(drv: Derivation, inputModulo: (drvPath: string) => Hash, maskOutputs = false): Hash {
  if (isFixedOutput(drv)) {
    const out = drv.outputs.get("out")!;
    return hashBytes("sha256", `fixed:out:${out.hashAlgo}:${out.hash}:${out.path}`);
  }
  return hashBytes("sha256", printDerivation(drv, { maskOutputs, inputDrvReplacements: moduloReplacements(drv, inputModulo) }));
}

/** Input derivations keyed by their modulo hashes (two may collapse to one, e.g. identical FODs). */
function moduloReplacements(drv: Derivation, inputModulo: (drvPath: string) => Hash): Map<string, string[]> {
  const replacements = new Map<string, string[]>();
  for (const [drvPath, outs] of drv.inputDrvs) {
    const key = inputModulo(drvPath).toBase16();
    const prev = replacements.get(key);
    replacements.set(key, prev ? [...new Set([...prev, ...outs])] : outs);
  }
  return replacements;
}

/**
 * A derivation's ATerm text and its (unmasked) modulo hash, printed once:
 * the two texts differ only in their input derivations. For derivations
 * whose output paths are filled in (computeOutputPaths).
 */
export function derivationTextAndModulo(drv: Derivation, inputModulo: (drvPath: string) => Hash): { text: string; modulo: Hash } {
  const outputs = printOutputs(drv, false);
  const rest = printRest(drv, false);
  const text = joinSections(outputs, printInputDrvs(drv.inputDrvs), rest);
  if (isFixedOutput(drv)) return { text, modulo: hashDerivationModulo(drv, inputModulo) };
  return { text, modulo: hashBytes("sha256", joinSections(outputs, printInputDrvs(moduloReplacements(drv, inputModulo)), rest)) };
}

/**
 * derivationStrict's computation for an input-addressed derivation whose
 * environment has a variable per output: fills in the output paths (as
 * computeOutputPaths) and gives its ATerm text and (unmasked) modulo hash
 * (as derivationTextAndModulo). The three texts Nix hashes (masked, modulo,
 * final) differ only in output paths and input derivations, so the
 * environment is escaped once and only its output variables again, and the
 * input derivations' modulo hashes are looked up once. Other derivations
 * take the general path.
 */
export function instantiateDerivation(
  drv: Derivation,
  drvName: string,
  inputModulo: (drvPath: string) => Hash,
  storeDir: string = DEFAULT_STORE_DIR,
): { text: string; modulo: Hash } {
  if (isFixedOutput(drv) || ![...drv.outputs.keys()].every((o) => drv.env.has(o))) {
    computeOutputPaths(drv, drvName, inputModulo, storeDir);
    return derivationTextAndModulo(drv, inputModulo);
  }
  for (const [name, o] of drv.outputs) {
    if (o.hash !== "" || o.hashAlgo !== "") throw new Error(`output '${name}' of a multi-output derivation cannot be fixed-output`);
    o.path = "";
    drv.env.set(name, "");
  }
  const keys = sortedKeys(drv.env);
  const entry = (k: string) => "(" + escape(k) + "," + escape(drv.env.get(k)!) + ")";
  const entries = keys.map(entry);
  const head = strList(sortByBytes([...drv.inputSrcs])) + "," + escape(drv.system) + "," + escape(drv.builder) + "," + strList(drv.args) + ",[";
  const rest = () => head + entries.join(",") + "]";
  const moduloInputs = printInputDrvs(moduloReplacements(drv, inputModulo));
  const masked = hashBytes("sha256", joinSections(printOutputs(drv, false), moduloInputs, rest()));
  for (const [name, o] of drv.outputs) {
    o.path = makeOutputPath(name, masked, drvName, storeDir).toAbsolute(storeDir);
    drv.env.set(name, o.path);
  }
  for (let i = 0; i < keys.length; i++) if (drv.outputs.has(keys[i])) entries[i] = entry(keys[i]);
  const outputs = printOutputs(drv, false);
  const r = rest();
  return { text: joinSections(outputs, printInputDrvs(drv.inputDrvs), r), modulo: hashBytes("sha256", joinSections(outputs, moduloInputs, r)) };
}

/** A memoizing `inputModulo` for hashDerivationModulo over derivations read by `load`. */
export function moduloHashes(load: (drvPath: string) => Derivation): (drvPath: string) => Hash {
  const cache = new Map<string, Hash>();
  const get = (drvPath: string): Hash => {
    let h = cache.get(drvPath);
    if (h === undefined) cache.set(drvPath, (h = hashDerivationModulo(load(drvPath), get)));
    return h;
  };
  return get;
}

/** "r:sha256" -> { recursive, algo }; also "text:sha256". */
export function parseOutputHashAlgo(hashAlgo: string): { method: "flat" | "recursive" | "text"; algo: Hash["algo"] } {
  if (hashAlgo.startsWith("r:")) return { method: "recursive", algo: parseHashAlgo(hashAlgo.slice(2)) };
  if (hashAlgo.startsWith("text:")) return { method: "text", algo: parseHashAlgo(hashAlgo.slice(5)) };
  return { method: "flat", algo: parseHashAlgo(hashAlgo) };
}

/**
 * Fills in output paths (outputs[*].path and the env vars named like the
 * outputs) as derivationStrict does: for fixed-output derivations from the
 * fixed hash, for input-addressed ones from the masked modulo hash.
 */
export function computeOutputPaths(
  drv: Derivation,
  drvName: string,
  inputModulo: (drvPath: string) => Hash,
  storeDir: string = DEFAULT_STORE_DIR,
): void {
  if (isFixedOutput(drv)) {
    const out = drv.outputs.get("out")!;
    const { method, algo } = parseOutputHashAlgo(out.hashAlgo);
    const h = Hash.parse(out.hash, algo);
    const path =
      method === "text" ? makeTextPath(drvName, h, [], storeDir) : makeFixedOutputPath(drvName, h, method === "recursive", [], storeDir);
    out.path = path.toAbsolute(storeDir);
    drv.env.set("out", out.path);
    return;
  }
  for (const [name, o] of drv.outputs) {
    if (o.hash !== "" || o.hashAlgo !== "") throw new Error(`output '${name}' of a multi-output derivation cannot be fixed-output`);
    o.path = "";
    if (drv.env.has(name)) drv.env.set(name, "");
  }
  const h = hashDerivationModulo(drv, inputModulo, true);
  for (const [name, o] of drv.outputs) {
    o.path = makeOutputPath(name, h, drvName, storeDir).toAbsolute(storeDir);
    drv.env.set(name, o.path);
  }
}

/** A .drv file's references: its input sources and input derivations, each once (a path may be both). */
export function derivationReferences(drv: Derivation): string[] {
  return [...new Set([...drv.inputSrcs, ...drv.inputDrvs.keys()])];
}

/** The store path of the .drv file: a text path with inputSrcs and inputDrvs as references. `text` is its ATerm, if already printed. */
export function derivationStorePath(drv: Derivation, drvName: string, storeDir: string = DEFAULT_STORE_DIR, text: string = printDerivation(drv)): StorePath {
  return makeTextPath(`${drvName}.drv`, hashBytes("sha256", text), derivationReferences(drv), storeDir);
}

/** The derivation name from a .drv path: "<hash>-<name>.drv" -> name. */
export function drvNameFromPath(drvPath: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
  if (!base.endsWith(".drv")) throw new Error(`'${drvPath}' is not a .drv path`);
  return StorePath.parse(base).name.slice(0, -4);
}
