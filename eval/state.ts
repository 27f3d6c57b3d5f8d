// The evaluator's state: options, search paths, the file cache of imports,
// and the world outside the language (EvalIO, io.ts).
import type { Expr, Pos } from "./ast";
import { parse } from "./parser";
import { Compiler } from "./compile";
import { Env, EvalError, Lazy, NixAttrs, NixPath, ThrownError, Value, force } from "./value";
import { canonPath } from "./paths";
import { COREPKGS, COREPKGS_DIR } from "./corepkgs";
import { IOError, describeIOError, type EvalIO, type ImportOptions } from "./io";
import type { BuiltinExtension } from "./builtins/registry";
import { passFatal } from "./limits";
import { RestrictedPathError } from "./restricted-io";
import { decodeBytes } from "./utf8";
import { addOrigin, addUnreadOrigin } from "./positions";
import { astCacheEnabled, stampKey, readCachedAst, readStampedAst, writeCachedAst } from "./ast-cache";

export interface EvalOptions {
  /** -I entries and NIX_PATH, in lookup order: "prefix=path" or "path". */
  nixPath: string[];
  storeDir: string;
  currentSystem: string;
  /** Files, directories and the store. */
  io: EvalIO;
  /** Builtins beyond the language's own (the store's: derivations, fetchers, path adding). */
  extensions: BuiltinExtension[];
  /** The home directory `~/` paths resolve against. */
  home?: string;
  /** The directory relative search path entries resolve against. */
  cwd?: string;
  /** --option pure-eval true: no host files, environment, time or system (as Nix). */
  pureEval?: boolean;
  /** --option restrict-eval true: files only from the search path, URIs only from allowed-uris. */
  restrictEval?: boolean;
  /** --option allowed-uris: URI prefixes fetchers may use in restricted mode. */
  allowedUris?: string[];
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
  readonly io: EvalIO;
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

  constructor(options: Partial<EvalOptions> & { io: EvalIO }) {
    this.options = {
      ...options,
      nixPath: options.nixPath ?? [],
      storeDir: options.io.storeDir,
      currentSystem: options.currentSystem ?? "x86_64-linux",
      extensions: options.extensions ?? [],
      pureEval: options.pureEval ?? false,
      abortOnWarn: options.abortOnWarn ?? false,
    };
    this.io = options.io;
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
      const home = this.options.home ?? process.env.HOME;
      if (home === undefined) throw new EvalError(`cannot resolve '${text}': the home directory is not known`, pos);
      return canonPath(home + text.slice(1));
    }
    if (text.startsWith("/")) return canonPath(text);
    return canonPath(`${baseDir}/${text}`);
  }

  /** <prefix/rest> lookup through the search path (builtins.findFile). */
  findSearchPath(path: string, pos: Pos | null): Value {
    let found = this.lookupSearchPath(this.searchPath, path);
    // <nix/fetchurl.nix> and friends: built in, after the search path
    if (found === null && COREPKGS.has(`${COREPKGS_DIR}/${path.replace(/^nix\//, "")}`) && path.startsWith("nix/"))
      found = `${COREPKGS_DIR}/${path.slice(4)}`;
    if (found === null)
      throw new ThrownError(searchPathMiss(path, this.options.pureEval ?? false), pos);
    return new NixPath(found);
  }

  lookupSearchPath(entries: SearchPathEntry[], path: string): string | null {
    // in pure evaluation mode no search path entry may be read
    if (this.options.pureEval) return null;
    for (const { prefix, path: p } of entries) {
      let rest: string;
      if (prefix === "") rest = path;
      else if (path === prefix) rest = "";
      else if (path.startsWith(prefix + "/")) rest = path.slice(prefix.length + 1);
      else continue;
      if (/^[a-z]+:\/\//.test(p)) continue; // URLs need fetchers (not supported here)
      const dir = p.startsWith("/") ? p : `${this.options.cwd ?? "/"}/${p}`;
      const full = canonPath(rest === "" ? dir : `${dir}/${rest}`);
      try {
        if (this.io.resolvedType(full) !== null) return full;
      } catch (e) {
        // found, but where it leads is forbidden: reading it says so (as Nix)
        if (e instanceof RestrictedPathError) return full;
        throw e;
      }
    }
    return null;
  }

  /** A file to import: a directory means its default.nix. */
  private importTarget(path: string, pos: Pos | null): string {
    if (COREPKGS.has(path)) return path;
    let type: string | null;
    try {
      type = this.io.resolvedType(path);
    } catch (e) {
      passFatal(e);
      if (e instanceof RestrictedPathError) throw e;
      throw new EvalError(`getting status of '${path}': ${describeIOError(e)}`, pos);
    }
    if (type === null) throw new EvalError(`path '${path}' does not exist`, pos);
    return type === "directory" ? `${path === "/" ? "" : path}/default.nix` : path;
  }

  /** import: evaluates a file once (directories mean default.nix). */
  importFile(path: string, pos: Pos | null): Value {
    const file = this.importTarget(path, pos);
    const cached = this.fileCache.get(file);
    if (cached !== undefined) return cached;
    const t0 = Date.now();
    const src = this.parseSource(file, pos);
    const t1 = Date.now();
    // A tree from the parse cache was compiled without errors before (only
    // such files are cached), so its lambda bodies can wait for their first
    // call; a new one is compiled whole, which reports undefined variables
    // now, as Nix does, and then cached.
    const code = this.compiler.compileTop(src.expr, this.globalNames, false, src.cached);
    const cache = this.io.parseCache;
    if (!src.cached && cache) writeCachedAst(cache, src.text, file, src.baseDir, src.base, src.expr, src.stamp);
    this.loadTimes.files++;
    this.loadTimes.parse += t1 - t0;
    this.loadTimes.compile += Date.now() - t1;
    if (process.env.TVIX_PHASES === "files") process.stderr.write(`FILE ${t1 - t0} ${Date.now() - t1} ${file}\n`);
    const v = code(this.baseEnv);
    this.fileCache.set(file, v);
    return v;
  }

  /** Reads a source file (corepkgs included) as text (bytes that are not UTF-8 kept, eval/utf8.ts). */
  readSourceFile(file: string): string {
    const core = COREPKGS.get(file);
    if (core !== undefined) return core;
    return decodeBytes(this.io.readFile(file));
  }

  parseFile(file: string, pos: Pos | null): Expr {
    return this.parseSource(file, pos).expr;
  }

  /**
   * A file's tree: from the parse cache (ast-cache.ts), by the file's stamp
   * (without reading it) or by its text, or parsed.
   */
  private parseSource(file: string, pos: Pos | null): { expr: Expr; cached: boolean; text: string; baseDir: string; stamp: string | null; base: Pos } {
    const baseDir = file.slice(0, file.lastIndexOf("/")) || "/";
    let stamp: string | null = null;
    const cache = this.io.parseCache;
    if (cache && astCacheEnabled() && !COREPKGS.has(file)) {
      let st = null;
      try {
        st = this.io.fileStamp(file);
      } catch (e) {
        passFatal(e);
      }
      stamp = st === null ? null : stampKey(file, baseDir, st);
      if (stamp !== null) {
        let base: Pos = 0;
        const expr = readStampedAst(cache, stamp, (length) => (base = addUnreadOrigin(file, length, () => this.readSourceFile(file))));
        if (expr !== undefined) return { expr, cached: true, text: "", baseDir, stamp, base };
      }
    }
    let text: string;
    try {
      text = this.readSourceFile(file);
    } catch (err) {
      passFatal(err);
      if (err instanceof IOError && err.code === "ENOENT") throw new EvalError(`path '${file}' does not exist`, pos);
      throw new EvalError(`reading file '${file}': ${describeIOError(err)}`, pos);
    }
    const base = addOrigin(file, text);
    const cached = cache ? readCachedAst(cache, text, file, baseDir, base, stamp) : undefined;
    if (cached !== undefined) return { expr: cached, cached: true, text, baseDir, stamp, base };
    return { expr: parse(text, file, baseDir, base), cached: false, text, baseDir, stamp, base };
  }

  /**
   * scopedImport: evaluates a file (each time: no caching) with the scope's
   * attributes as variables above the global ones, as Nix does: they are
   * lexical, so they replace every free name of the file they name,
   * `import` and `builtins` included.
   */
  scopedImport(scope: NixAttrs, path: string, pos: Pos | null): Value {
    const e = this.parseFile(this.importTarget(path, pos), pos);
    const names = new Map<string, number>();
    const env: Env = [this.baseEnv];
    for (let i = 0; i < scope.names.length; i++) {
      names.set(scope.names[i], i);
      env.push(scope.values[i]);
    }
    return this.compiler.compileWithNames(e, this.globalNames, names)(env);
  }

  // like Nix's srcToStore: a path is read and hashed once per evaluation
  private readonly copiedPaths = new Map<string, string>();
  copyPathToStore(path: string, pos: Pos | null): string {
    let sp = this.copiedPaths.get(path);
    if (sp === undefined) this.copiedPaths.set(path, (sp = this.importPath(path, {}, pos)));
    return sp;
  }

  /** Adds a path to the store through EvalIO, with Nix's errors. */
  importPath(path: string, opts: ImportOptions, pos: Pos | null): string {
    try {
      return this.io.importPath(path, opts);
    } catch (e) {
      passFatal(e);
      if (e instanceof EvalError) throw e;
      if (e instanceof IOError && e.code === "ENOENT") throw new EvalError(`path '${path}' does not exist`, pos);
      throw new EvalError(describeIOError(e), pos);
    }
  }
}

export function parseSearchPathEntry(s: string): SearchPathEntry {
  const eq = s.indexOf("=");
  if (eq < 0) return { prefix: "", path: s };
  return { prefix: s.slice(0, eq), path: s.slice(eq + 1) };
}

export { force };

/** Nix's message for a `<name>` the search path does not have (or may not be looked up). */
export function searchPathMiss(name: string, pureEval: boolean): string {
  return pureEval
    ? `cannot look up '<${name}>' in pure evaluation mode (use '--impure' to override)`
    : `file '${name}' was not found in the Nix search path (add it using $NIX_PATH or -I)`;
}
