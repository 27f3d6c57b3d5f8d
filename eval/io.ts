// What the evaluator needs from a store. The evaluator never touches a store
// directly: `tvix eval` gives it a ReadOnlyStore, which computes store paths
// exactly as Nix does (Nix's --eval is read-only too) without writing them;
// the store issue plugs a writing implementation in here.
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, type Stats } from "node:fs";
import { createHash } from "../core/digest";
import { join } from "node:path";
import type { Pos } from "./ast";
import { EvalError } from "./value";
import { NarError, NarNode, narFromTree, sortNames, NAR_FRAMING } from "../core/nar";
import { Hash, hashBytes, type HashAlgo } from "../core/hash";
import { makeFixedOutputPath, makeTextPath } from "../core/store-path";
import { baseNameOf } from "./paths";
import { passFatal } from "./limits";

/** builtins.path options: flat (a single file's bytes are hashed) and an expected hash. */
export interface AddPathOptions {
  flat?: boolean;
  expected?: Hash;
}

export interface EvalStore {
  readonly storeDir: string;
  /** Adds a file system path (as `"${./p}"` does): returns its store path. */
  addPath(path: string, pos: Pos | null, name?: string, filter?: (path: string, type: string) => boolean, opts?: AddPathOptions): string;
  /** builtins.toFile: returns its store path. */
  addTextFile(name: string, contents: string, references: string[]): string;
  /** The contents of a store file that exists only in memory (read-only evaluation), if any. */
  memoryFile?(path: string): string | undefined;
  /** True when store objects are really written (instantiate): fetchers must then fetch even with a known hash. */
  readonly writes?: boolean;
  /** Records a store object the evaluator produced (fetch results), for writing stores. */
  recordPath?(p: PendingPath): void;
  /** Stores a .drv file whose path was computed by the evaluator (optional: read-only stores skip it). */
  writeDerivation?(drvPath: string, text: string, references: string[]): void;
}

/** A file's type as Nix names it (readFileType, readDir, the types path filters are told of). */
export function fileTypeOf(st: Stats): string {
  return st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "directory" : st.isFile() ? "regular" : "unknown";
}

/** Reads a file system tree into memory (sources are small), applying a filter. */
export function readTree(path: string, filter?: (path: string, type: string) => boolean): NarNode {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return { type: "symlink", target: readlinkSync(path) };
  if (st.isFile()) return { type: "regular", executable: (st.mode & 0o100) !== 0, contents: readFileSync(path) };
  if (st.isDirectory()) {
    const entries = new Map<string, NarNode>();
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (filter && !filter(child, fileTypeOf(lstatSync(child)))) continue;
      entries.set(name, readTree(child, filter));
    }
    return { type: "directory", entries };
  }
  throw new EvalError(`file '${path}' has an unsupported type`);
}

/**
 * The NAR hash of a file system path, computed while it is read (the NAR is
 * never held in memory): the hash of narFromTree(readTree(path, filter)).
 */
export function hashPathNar(path: string, filter: ((path: string, type: string) => boolean) | undefined, algo: HashAlgo): Hash {
  const h = createHash(algo);
  const buf = Buffer.allocUnsafe(1 << 16);
  let n = 0;
  const flush = () => {
    if (n > 0) h.update(buf.subarray(0, n));
    n = 0;
  };
  const put = (b: Uint8Array) => {
    if (n + b.length > buf.length) flush();
    buf.set(b, n);
    n += b.length;
  };
  const len64 = (len: number) => {
    if (n + 8 > buf.length) flush();
    // little-endian by hand (writeUInt32LE's checks cost more than the write)
    let lo = len % 2 ** 32;
    let hi = Math.floor(len / 2 ** 32);
    for (let k = 0; k < 4; k++, lo >>>= 8) buf[n + k] = lo & 0xff;
    for (let k = 4; k < 8; k++, hi >>>= 8) buf[n + k] = hi & 0xff;
    n += 8;
  };
  const pad = (len: number) => {
    const p = (8 - (len % 8)) % 8;
    if (n + p > buf.length) flush();
    buf.fill(0, n, n + p);
    n += p;
  };
  const str = (s: string) => {
    const len = Buffer.byteLength(s, "utf8");
    len64(len);
    if (n + len > buf.length) flush();
    if (len > buf.length) h.update(s);
    else n += buf.write(s, n, "utf8");
    pad(len);
  };
  const node = (p: string, st: Stats) => {
    if (st.isFile()) {
      put((st.mode & 0o100) !== 0 ? NAR_FRAMING.executable : NAR_FRAMING.regular);
      // read straight into the buffer: small files then cost no allocation
      // and no hash call of their own
      const size = st.size;
      len64(size);
      const fd = openSync(p, "r");
      try {
        for (let left = size; left > 0; ) {
          if (n === buf.length) flush();
          const got = readSync(fd, buf, n, Math.min(left, buf.length - n), null);
          if (got === 0) throw new EvalError(`file '${p}' changed size while it was read`);
          n += got;
          left -= got;
        }
      } finally {
        closeSync(fd);
      }
      pad(size);
    } else if (st.isSymbolicLink()) {
      const target = readlinkSync(p);
      if (target === "" || target.includes("\0")) throw new NarError(`invalid symlink target '${target}'`);
      put(NAR_FRAMING.symlink);
      str(target);
    } else if (st.isDirectory()) {
      put(NAR_FRAMING.directory);
      const prefix = p.endsWith("/") ? p : p + "/";
      for (const name of sortNames(readdirSync(p))) {
        const child = prefix + name;
        const cst = lstatSync(child);
        if (filter && !filter(child, fileTypeOf(cst))) continue;
        put(NAR_FRAMING.entry);
        str(name);
        put(NAR_FRAMING.node);
        node(child, cst);
        put(NAR_FRAMING.close);
      }
    } else throw new EvalError(`file '${p}' has an unsupported type`);
    put(NAR_FRAMING.close);
  };
  put(NAR_FRAMING.magic);
  node(path, lstatSync(path));
  flush();
  return new Hash(algo, new Uint8Array(h.digest()));
}

export class ReadOnlyStore implements EvalStore {
  constructor(readonly storeDir: string) {}

  addPath(path: string, pos: Pos | null, name?: string, filter?: (path: string, type: string) => boolean, opts: AddPathOptions = {}): string {
    if (opts.flat) return this.prepareAdd(path, pos, name, filter, opts).storePath;
    // only the store path is needed: the NAR is hashed as it is read, never held
    let hash: Hash;
    try {
      hash = hashPathNar(path, filter, opts.expected?.algo ?? "sha256");
    } catch (e) {
      passFatal(e);
      if (e instanceof EvalError || e instanceof NarError) throw e;
      throw new EvalError(`path '${path}' does not exist`, pos);
    }
    if (opts.expected && !opts.expected.equals(hash))
      throw new EvalError(`store path mismatch in (possibly filtered) path added from '${path}'`, pos);
    return makeFixedOutputPath(name ?? baseNameOf(path), hash, true, [], this.storeDir).toAbsolute(this.storeDir);
  }

  /** Reads a path and computes its store path (and what to write) as Nix's addToStore. */
  protected prepareAdd(path: string, pos: Pos | null, name: string | undefined, filter: ((path: string, type: string) => boolean) | undefined, opts: AddPathOptions): PendingPath {
    let tree: NarNode;
    try {
      tree = readTree(path, filter);
    } catch (e) {
      passFatal(e);
      if (e instanceof EvalError) throw e;
      throw new EvalError(`path '${path}' does not exist`, pos);
    }
    const nar = narFromTree(tree);
    const n = name ?? baseNameOf(path);
    let hash: Hash;
    let ca: string;
    if (opts.flat) {
      if (tree.type !== "regular") throw new EvalError(`file '${path}' has an unsupported type for flat hashing (it must be a regular file)`, pos);
      hash = hashBytes(opts.expected?.algo ?? "sha256", tree.contents);
      ca = `fixed:${hash.format("nix32", true)}`;
    } else {
      hash = hashBytes(opts.expected?.algo ?? "sha256", nar);
      ca = `fixed:r:${hash.format("nix32", true)}`;
    }
    if (opts.expected && !opts.expected.equals(hash))
      throw new EvalError(`store path mismatch in (possibly filtered) path added from '${path}'`, pos);
    const storePath = makeFixedOutputPath(n, hash, !opts.flat, [], this.storeDir).toAbsolute(this.storeDir);
    return { storePath, nar, references: [], ca };
  }

  /** toFile results: read-only evaluation keeps them so that they can be read and imported. */
  private readonly textFiles = new Map<string, string>();

  addTextFile(name: string, contents: string, references: string[]): string {
    return this.addText(name, contents, references, hashBytes("sha256", contents));
  }

  /** A text path of known sha256 (hashed once, by the caller). */
  protected addText(name: string, contents: string, references: string[], hash: Hash): string {
    const p = makeTextPath(name, hash, references, this.storeDir).toAbsolute(this.storeDir);
    this.textFiles.set(p, contents);
    return p;
  }

  memoryFile(path: string): string | undefined {
    return this.textFiles.get(path);
  }
}

/** A store object the evaluator created: written to a real store after evaluation. */
export interface PendingPath {
  storePath: string;
  nar: Uint8Array;
  references: string[];
  /** Content address as Nix records it ("fixed:r:sha256:..." / "text:sha256:..."). */
  ca: string;
}

/**
 * Computes paths exactly as ReadOnlyStore and remembers what would be
 * written; `tvix instantiate` flushes the list to a NixStore afterwards
 * (evaluation is synchronous, the stores are asynchronous).
 */
export class RecordingStore extends ReadOnlyStore {
  readonly pending = new Map<string, PendingPath>();
  readonly writes = true;

  recordPath(p: PendingPath): void {
    this.pending.set(p.storePath, p);
  }

  override addPath(path: string, pos: Pos | null, name?: string, filter?: (path: string, type: string) => boolean, opts: AddPathOptions = {}): string {
    const p = this.prepareAdd(path, pos, name, filter, opts);
    this.pending.set(p.storePath, p);
    return p.storePath;
  }

  protected override addText(name: string, contents: string, references: string[], hash: Hash): string {
    const storePath = super.addText(name, contents, references, hash);
    const nar = narFromTree({ type: "regular", executable: false, contents: Buffer.from(contents, "utf8") });
    this.pending.set(storePath, { storePath, nar, references: [...references].sort(), ca: `text:${hash.format("nix32", true)}` });
    return storePath;
  }

  writeDerivation(drvPath: string, text: string, references: string[]): void {
    this.addTextFile(drvPath.slice(this.storeDir.length + 1 + 33), text, references);
  }
}

// ---------------------------------------------------------------- sync calls

/** Runs an async helper (download, unpack) synchronously; set by the CLI (cmd/bigstack.ts callSync). */
let syncCallImpl: ((name: string, payload: unknown) => unknown) | null = null;
export function setSyncCall(fn: (name: string, payload: unknown) => unknown): void {
  syncCallImpl = fn;
}
export function syncCall<T>(name: string, payload: unknown): T {
  if (!syncCallImpl) throw new EvalError(`not implemented: ${name} outside the tvix CLI`);
  try {
    return syncCallImpl(name, payload) as T;
  } catch (e) {
    passFatal(e);
    throw new EvalError((e as Error).message);
  }
}
