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

function escape(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 34) rep = '\\"';
    else if (c === 92) rep = "\\\\";
    else if (c === 10) rep = "\\n";
    else if (c === 13) rep = "\\r";
    else if (c === 9) rep = "\\t";
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

const byKey = <T>(m: Map<string, T>): [string, T][] => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
const strList = (l: readonly string[]): string => "[" + l.map(escape).join(",") + "]";
const sorted = (l: readonly string[]): string[] => [...l].sort();

export interface PrintOptions {
  /** Print output paths (and the env vars named like outputs) as "". */
  maskOutputs?: boolean;
  /** Print these instead of inputDrvs (keys printed as-is, e.g. modulo hashes). */
  inputDrvReplacements?: Map<string, string[]>;
}

/** The ATerm text of a derivation, byte-identical to Nix's unparse. */
export function printDerivation(drv: Derivation, opts: PrintOptions = {}): string {
  const parts: string[] = [];
  parts.push(
    "[" +
      byKey(drv.outputs)
        .map(([name, o]) => `(${escape(name)},${escape(opts.maskOutputs ? "" : o.path)},${escape(o.hashAlgo)},${escape(o.hash)})`)
        .join(",") +
      "]",
  );
  const inputs = opts.inputDrvReplacements ?? drv.inputDrvs;
  parts.push("[" + byKey(inputs).map(([p, outs]) => `(${escape(p)},${strList(sorted(outs))})`).join(",") + "]");
  parts.push(strList(sorted(drv.inputSrcs)));
  parts.push(escape(drv.system));
  parts.push(escape(drv.builder));
  parts.push(strList(drv.args));
  parts.push(
    "[" +
      byKey(drv.env)
        .map(([k, v]) => `(${escape(k)},${escape(opts.maskOutputs && drv.outputs.has(k) ? "" : v)})`)
        .join(",") +
      "]",
  );
  return "Derive(" + parts.join(",") + ")";
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
 * modulo hash. `loadInputDrv` reads an input .drv by absolute path.
 */
export function hashDerivationModulo(
  drv: Derivation,
  loadInputDrv: (drvPath: string) => Derivation,
  cache: Map<string, Hash> = new Map(),
  maskOutputs = false,
): Hash {
  if (isFixedOutput(drv)) {
    const out = drv.outputs.get("out")!;
    return hashBytes("sha256", `fixed:out:${out.hashAlgo}:${out.hash}:${out.path}`);
  }
  const replacements = new Map<string, string[]>();
  for (const [drvPath, outs] of drv.inputDrvs) {
    let h = cache.get(drvPath);
    if (!h) {
      h = hashDerivationModulo(loadInputDrv(drvPath), loadInputDrv, cache, false);
      cache.set(drvPath, h);
    }
    const key = h.toBase16();
    // two inputs may collapse to the same hash (e.g. identical FODs)
    const prev = replacements.get(key);
    replacements.set(key, prev ? [...new Set([...prev, ...outs])] : outs);
  }
  return hashBytes("sha256", printDerivation(drv, { maskOutputs, inputDrvReplacements: replacements }));
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
  loadInputDrv: (drvPath: string) => Derivation,
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
  const h = hashDerivationModulo(drv, loadInputDrv, new Map(), true);
  for (const [name, o] of drv.outputs) {
    o.path = makeOutputPath(name, h, drvName, storeDir).toAbsolute(storeDir);
    drv.env.set(name, o.path);
  }
}

/** The store path of the .drv file: a text path with inputSrcs and inputDrvs as references. */
export function derivationStorePath(drv: Derivation, drvName: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
  const refs = [...new Set([...drv.inputSrcs, ...drv.inputDrvs.keys()])];
  return makeTextPath(`${drvName}.drv`, hashBytes("sha256", printDerivation(drv)), refs, storeDir);
}

/** The derivation name from a .drv path: "<hash>-<name>.drv" -> name. */
export function drvNameFromPath(drvPath: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
  if (!base.endsWith(".drv")) throw new Error(`'${drvPath}' is not a .drv path`);
  return StorePath.parse(base).name.slice(0, -4);
}
