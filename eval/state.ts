// The evaluator's state: options, search paths, the file cache of imports,
// and the interface to the store (io.ts).
import { readFileSync, statSync, type BigIntStats } from "node:fs";
import { join, resolve as resolvePathNode } from "node:path";
import { homedir } from "node:os";
import type { Expr, Pos } from "./ast";
import { parse } from "./parser";
import { Compiler } from "./compile";
import { Env, EvalError, Lazy, NixAttrs, NixPath, ThrownError, Value, force } from "./value";
import { canonPath } from "./paths";
import { COREPKGS, COREPKGS_DIR } from "./corepkgs";
import type { EvalStore } from "./io";
import { ReadOnlyStore } from "./io";
import { Derivation, parseDerivation, printDerivation } from "../core/derivation";
import { passFatal } from "./limits";
import { addOrigin, addUnreadOrigin } from "./positions";
import { astCacheEnabled, fileStamp, readCachedAst, readStampedAst, writeCachedAst } from "./ast-cache";

export interface EvalOptions {
  /** -I entries and NIX_PATH, in lookup order: "prefix=path" or "path". */
  nixPath: string[];
  storeDir: string;
  currentSystem: string;
  /** Read-only mode computes store paths without writing (nix-instantiate --eval default). */
  store?: EvalStore;
  pureEval?: boolean;
  /** --option abort-on-warn true: builtins.warn aborts (to show where a warning comes from). */
  abortOnWarn?: boolean;
  /** --option tarball-ttl N: seconds a download without a hash is reused (default 3600). */
  tarballTtl?: number;
}

export interface SearchPathEntry {
  prefix: string;
  path: string;
}

export class EvalState {
  readonly compiler = new Compiler(this);
  readonly options: EvalOptions;
  readonly store: EvalStore;
  /** Time spent reading and parsing (or decoding) and compiling imported files, in ms (TVIX_PHASES prints it; Date.now, as `performance` loads perf_hooks). */
  readonly loadTimes = { files: 0, parse: 0, compile: 0 };
  /** Evaluated imports by canonical file path (one parse and evaluation per file). */
  private fileCache = new Map<string, Value>();
  /** The global scope: names -> slots of the base Env. */
  readonly globalNames = new Map<string, number>();
  readonly baseEnv: Env = [null];
  builtins!: NixAttrs;
  searchPath: SearchPathEntry[] = [];
  /** Traces printed by builtins.trace go here (stderr by default). */
  traceSink: (msg: string) => void = (m) => process.stderr.write(m + "\n");

  constructor(options: Partial<EvalOptions> = {}) {
    this.options = {
      nixPath: options.nixPath ?? [],
      storeDir: options.storeDir ?? "/nix/store",
      currentSystem: options.currentSystem ?? "x86_64-linux",
      pureEval: options.pureEval ?? false,
      abortOnWarn: options.abortOnWarn ?? false,
    };
    this.store = options.store ?? new ReadOnlyStore(this.options.storeDir);
    this.searchPath = this.options.nixPath.map(parseSearchPathEntry);
  }

  /** Registers a global (top-level) name. */
  defineGlobal(name: string, v: Lazy): void {
    const idx = this.globalNames.get(name);
    if (idx !== undefined) this.baseEnv[idx + 1] = v;
    else {
      this.globalNames.set(name, this.baseEnv.length - 1);
      this.baseEnv.push(v);
    }
  }

  /** Evaluates a parsed expression in the global scope. */
  evalExpr(e: Expr): Value {
    return this.compiler.compileTop(e, this.globalNames)(this.baseEnv);
  }

  parseString(src: string, baseDir: string): Expr {
    return parse(src, "", baseDir);
  }

  evalString(src: string, baseDir: string = process.cwd()): Value {
    return this.evalExpr(this.parseString(src, baseDir));
  }

  /** Resolves a path literal: relative to baseDir, ~ to $HOME. */
  resolvePath(text: string, baseDir: string, pos: Pos | null): string {
    if (text.startsWith("~/")) {
      const home = process.env.HOME ?? homedir();
      return canonPath(home + text.slice(1));
    }
    if (text.startsWith("/")) return canonPath(text);
    void pos;
    return canonPath(join(baseDir, text));
  }

  /** <prefix/rest> lookup through the search path (builtins.findFile). */
  findSearchPath(path: string, pos: Pos | null): Value {
    let found = this.lookupSearchPath(this.searchPath, path);
    // <nix/fetchurl.nix> and friends: built in, after the search path
    if (found === null && COREPKGS.has(`${COREPKGS_DIR}/${path.replace(/^nix\//, "")}`) && path.startsWith("nix/"))
      found = `${COREPKGS_DIR}/${path.slice(4)}`;
    if (found === null)
      throw new ThrownError(`file '${path}' was not found in the Nix search path (add it using $NIX_PATH or -I)`, pos);
    return new NixPath(found);
  }

  lookupSearchPath(entries: SearchPathEntry[], path: string): string | null {
    for (const { prefix, path: p } of entries) {
      let rest: string;
      if (prefix === "") rest = path;
      else if (path === prefix) rest = "";
      else if (path.startsWith(prefix + "/")) rest = path.slice(prefix.length + 1);
      else continue;
      if (/^[a-z]+:\/\//.test(p)) continue; // URLs need fetchers (not supported here)
      const full = rest === "" ? resolvePathNode(p) : resolvePathNode(p, rest);
      try {
        statSync(full);
        return full;
      } catch (e) {
        passFatal(e);
        continue;
      }
    }
    return null;
  }

  /** import: evaluates a file once (directories mean default.nix). */
  importFile(path: string, pos: Pos | null): Value {
    let file = path;
    // the stat serves the parse cache too (parseSource), unless it was a directory's
    let st: BigIntStats | undefined;
    try {
      if (this.onDisk(file)) {
        st = statSync(file, { bigint: true });
        if (st.isDirectory()) {
          file = join(file, "default.nix");
          st = undefined;
        }
      }
    } catch (e) {
      passFatal(e);
      throw new EvalError(`path '${path}' does not exist`, pos);
    }
    const cached = this.fileCache.get(file);
    if (cached !== undefined) return cached;
    const t0 = Date.now();
    const src = this.parseSource(file, pos, st);
    const t1 = Date.now();
    // A tree from the parse cache was compiled without errors before (only
    // such files are cached), so its lambda bodies can wait for their first
    // call; a new one is compiled whole, which reports undefined variables
    // now, as Nix does, and then cached.
    const code = this.compiler.compileTop(src.expr, this.globalNames, false, src.cached);
    if (!src.cached) writeCachedAst(src.text, file, src.baseDir, src.base, src.expr, src.stamp);
    this.loadTimes.files++;
    this.loadTimes.parse += t1 - t0;
    this.loadTimes.compile += Date.now() - t1;
    if (process.env.TVIX_PHASES === "files") process.stderr.write(`FILE ${t1 - t0} ${Date.now() - t1} ${file}\n`);
    const v = code(this.baseEnv);
    this.fileCache.set(file, v);
    return v;
  }

  /** Whether a file is read from the file system (not one of corepkgs, nor held by the store in memory). */
  private onDisk(file: string): boolean {
    return !COREPKGS.has(file) && this.store.memoryFile?.(file) === undefined;
  }

  /** Reads a file, including files the (read-only) store only holds in memory. */
  readSourceFile(file: string): string {
    const core = COREPKGS.get(file);
    if (core !== undefined) return core;
    const mem = this.store.memoryFile?.(file);
    if (mem !== undefined) return mem;
    return readFileSync(file, "utf8");
  }

  parseFile(file: string, pos: Pos | null): Expr {
    return this.parseSource(file, pos).expr;
  }

  /**
   * A file's tree: from the parse cache (ast-cache.ts), by the file's stamp
   * (without reading it) or by its text, or parsed.
   */
  private parseSource(file: string, pos: Pos | null, st?: BigIntStats): { expr: Expr; cached: boolean; text: string; baseDir: string; stamp: string | null; base: Pos } {
    const baseDir = file.slice(0, file.lastIndexOf("/")) || "/";
    let stamp: string | null = null;
    if (astCacheEnabled() && this.onDisk(file)) {
      st ??= statSync(file, { bigint: true, throwIfNoEntry: false });
      stamp = st === undefined ? null : fileStamp(file, baseDir, st);
      if (stamp !== null) {
        let base: Pos = 0;
        const expr = readStampedAst(stamp, (length) => (base = addUnreadOrigin(file, length, () => this.readSourceFile(file))));
        if (expr !== undefined) return { expr, cached: true, text: "", baseDir, stamp, base };
      }
    }
    let text: string;
    try {
      text = this.readSourceFile(file);
    } catch (err) {
      passFatal(err);
      throw new EvalError(`getting status of '${file}': ${(err as Error).message}`, pos);
    }
    const base = addOrigin(file, text);
    const cached = readCachedAst(text, file, baseDir, base, stamp);
    if (cached !== undefined) return { expr: cached, cached: true, text, baseDir, stamp, base };
    return { expr: parse(text, file, baseDir, base), cached: false, text, baseDir, stamp, base };
  }

  /** scopedImport: evaluates a file with extra names in scope (no caching). */
  scopedImport(scope: NixAttrs, path: string, pos: Pos | null): Value {
    let file = path;
    if (statSync(file).isDirectory()) file = join(file, "default.nix");
    const e = this.parseFile(file, pos);
    const code = this.compiler.compileTop(e, this.globalNames, true);
    return code([this.baseEnv, scope]);
  }

  /** Derivations instantiated (or read) in this evaluation, by .drv path. */
  readonly derivations = new Map<string, Derivation>();

  registerDerivation(drvPath: string, drv: Derivation): void {
    this.derivations.set(drvPath, drv);
    this.store.writeDerivation?.(drvPath, printDerivation(drv), [...new Set([...drv.inputSrcs, ...drv.inputDrvs.keys()])]);
  }

  /** An input derivation: from this evaluation, else read from the store directory. */
  loadDerivation(drvPath: string, pos: Pos | null): Derivation {
    const d = this.derivations.get(drvPath);
    if (d) return d;
    try {
      const parsed = parseDerivation(readFileSync(drvPath, "utf8"));
      this.derivations.set(drvPath, parsed);
      return parsed;
    } catch (e) {
      passFatal(e);
      throw new EvalError(`cannot read derivation '${drvPath}': ${(e as Error).message}`, pos);
    }
  }

  /** The references closure of a store path (for derivations known to this evaluation). */
  closureOf(path: string): string[] {
    const out = new Set<string>();
    const visit = (p: string) => {
      if (out.has(p)) return;
      out.add(p);
      const d = p.endsWith(".drv") ? this.loadDerivation(p, null) : undefined;
      if (d) {
        for (const s of d.inputSrcs) visit(s);
        for (const i of d.inputDrvs.keys()) visit(i);
      }
    };
    visit(path);
    return [...out];
  }

  // like Nix's srcToStore: a path is read and hashed once per evaluation
  private readonly copiedPaths = new Map<string, string>();
  copyPathToStore(path: string, pos: Pos | null): string {
    let sp = this.copiedPaths.get(path);
    if (sp === undefined) this.copiedPaths.set(path, (sp = this.store.addPath(path, pos)));
    return sp;
  }
}

export function parseSearchPathEntry(s: string): SearchPathEntry {
  const eq = s.indexOf("=");
  if (eq < 0) return { prefix: "", path: s };
  return { prefix: s.slice(0, eq), path: s.slice(eq + 1) };
}

export { force };
