// pure-eval and restrict-eval: an EvalIO that lets the evaluation read only
// allowed paths, as Nix's AllowListSourceAccessor. Allowed are the search
// path's entries (restricted mode only), the store paths this evaluation
// added or was given with string context, and what the embedding allows;
// the parents of an allowed path may be looked at (as Nix, to resolve it).
// Each path is checked as written and with its symlinks resolved, so a link
// cannot lead outside. The first component that is not allowed is named in
// the error, as Nix does.
import type { EvalIO, FileStamp, FileType, ImportOptions } from "./io";
import { EvalError } from "./value";
import { canonPath } from "./paths";

export type EvalMode = "pure" | "restricted";

/** An access the evaluation mode forbids (pathExists answers false to it, as Nix). */
export class RestrictedPathError extends EvalError {}

export class RestrictedIO implements EvalIO {
  private readonly allowed = new Set<string>();

  constructor(
    private readonly inner: EvalIO,
    readonly mode: EvalMode,
  ) {}

  get storeDir(): string {
    return this.inner.storeDir;
  }

  get parseCache() {
    return this.inner.parseCache;
  }

  /** Makes `path` (and what is below it) readable. */
  allowPath(path: string): void {
    this.allowed.add(canonPath(path));
  }

  private isAllowed(p: string): boolean {
    if (this.allowed.has(p)) return true;
    // a parent of an allowed path
    const asParent = p === "/" ? "/" : p + "/";
    for (const a of this.allowed) if (a.startsWith(asParent)) return true;
    // below an allowed path, or inside a store path the evaluation added
    for (let q = p; q !== "/" && q !== ""; q = q.slice(0, q.lastIndexOf("/")) || "/") if (this.allowed.has(q)) return true;
    const store = this.storeDir + "/";
    if (p.startsWith(store)) {
      const slash = p.indexOf("/", store.length);
      if (this.inner.isOwnStorePath?.(slash < 0 ? p : p.slice(0, slash))) return true;
    }
    return false;
  }

  /** `whole`: name the path itself, not its first forbidden component (Nix's lstat of a path, readFileType). */
  private checkOne(path: string, whole = false): void {
    const p = canonPath(path);
    if (this.isAllowed(p)) return;
    let cur = whole ? p : "";
    if (!whole)
      for (const part of p.split("/").filter(Boolean)) {
        cur += "/" + part;
        if (!this.isAllowed(cur)) break;
      }
    throw new RestrictedPathError(
      `access to absolute path '${cur || "/"}' is forbidden ${this.mode === "pure" ? "in pure evaluation mode (use '--impure' to override)" : "in restricted mode"}`,
    );
  }

  /** Throws RestrictedPathError unless `path`, and what its symlinks lead to, are allowed. */
  check(path: string, whole = false): void {
    this.checkOne(path, whole);
    const real = this.inner.realPath?.(path);
    if (real !== undefined && real !== path) this.checkOne(real);
  }

  fileType(path: string): FileType | null {
    this.check(path, true);
    return this.inner.fileType(path);
  }
  resolvedType(path: string): FileType | null {
    this.check(path);
    return this.inner.resolvedType(path);
  }
  readFile(path: string): Uint8Array {
    this.check(path);
    return this.inner.readFile(path);
  }
  readTextFile(path: string): string {
    this.check(path);
    return this.inner.readTextFile(path);
  }
  readDir(path: string): [string, FileType][] {
    this.check(path);
    return this.inner.readDir(path);
  }
  importPath(path: string, opts: ImportOptions): string {
    this.check(path);
    const sp = this.inner.importPath(path, opts);
    this.allowPath(sp);
    return sp;
  }
  fileStamp(path: string): FileStamp | null {
    this.check(path);
    return this.inner.fileStamp(path);
  }
  isOwnStorePath(storePath: string): boolean {
    return this.allowed.has(storePath) || (this.inner.isOwnStorePath?.(storePath) ?? false);
  }
  realPath(path: string): string {
    return this.inner.realPath?.(path) ?? path;
  }
}
