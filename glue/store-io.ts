// StoreIO: the store-aware EvalIO (Tvix's TvixStoreIO). A path under the
// store directory is served from what this evaluation added (even when the
// evaluation only computes store paths and writes nothing), else from the
// configured store (castore directories and blobs), else from the host;
// every other path from the host. Symlinks inside store paths are resolved
// here, as the store's copy has them. With `writes`, what the evaluation
// adds is also recorded for writing to a store afterwards (flush.ts).
import { realpathSync } from "node:fs";
import { canonPath, baseNameOf } from "../eval/paths";
import { IOError, type EvalIO, type FileStamp, type FileType, type ImportOptions, type ParseCacheStorage } from "../eval/io";
import { EvalError } from "../eval/value";
import { hashBytes, type Hash } from "../core/hash";
import { isStorePath, makeFixedOutputPath, makeTextPath } from "../core/store-path";
import { treeToNode, type NarNode, type TreeAccessor } from "../core/nar";
import { hashTreeFile, hashTreeNar, hostTree } from "../stores/host-tree";
import { HostFS, ioError } from "./host-fs";
import { cachedImportHash } from "./import-hash-cache";
import { TreeReader, type StoreTree, type SyncStoreReader, type TreeStat } from "./store-trees";

export interface StoreIOOptions {
  storeDir: string;
  /** Record what the evaluation adds, to be written to a store afterwards (instantiate, --read-write-mode). */
  writes: boolean;
  /** The configured store, read synchronously; null: the host and what the evaluation added only. */
  store?: SyncStoreReader | null;
  parseCache?: ParseCacheStorage;
  /** Where hashes of imported host files are kept by the files' stamps (import-hash-cache.ts); none: hashed every time. */
  importCache?: ParseCacheStorage;
  /**
   * Builds a derivation whose output the evaluation reads (import from
   * derivation) and returns its outputs' trees; a string: why it cannot
   * (allow-import-from-derivation off, no store to build in).
   */
  realise?: ((drvPath: string, io: StoreIO) => { path: string; tree: NarNode }[]) | string;
}

/** A store object the evaluation made, to be written after evaluation. */
export interface PendingPath {
  storePath: string;
  references: string[];
  /** Content address as Nix records it ("fixed:r:sha256:...", "fixed:sha256:...", "text:sha256:..."). */
  ca: string;
  tree: StoreTree;
}

type Located = { tree: StoreTree; sp: string; rel: string; stat: TreeStat } | { host: string };

const MAX_SYMLINK_HOPS = 40;

export class StoreIO implements EvalIO {
  readonly storeDir: string;
  readonly writes: boolean;
  readonly parseCache?: ParseCacheStorage;
  private readonly importCache?: ParseCacheStorage;
  readonly host = new HostFS();
  /** Store paths this evaluation added, and their contents. */
  private readonly added = new Map<string, StoreTree>();
  /** Store paths looked up in the configured store (null: it does not have them). */
  private readonly fromStore = new Map<string, StoreTree | null>();
  /** What to write afterwards, in the order it was made (with `writes`). */
  readonly pending = new Map<string, PendingPath>();
  private readonly store: SyncStoreReader | null;
  private readonly trees: TreeReader;
  private readonly realise: StoreIOOptions["realise"];
  /** Output paths of the derivations this evaluation made: path -> [drvPath, output name]. */
  private readonly outputsOf = new Map<string, [string, string]>();

  constructor(opts: StoreIOOptions) {
    this.storeDir = opts.storeDir;
    this.writes = opts.writes;
    this.parseCache = opts.parseCache;
    this.importCache = opts.importCache;
    this.store = opts.store ?? null;
    this.trees = new TreeReader(this.host, this.store);
    this.realise = opts.realise;
  }

  /** Notes a derivation's outputs, which reading builds (import from derivation). */
  noteOutputs(drvPath: string, outputs: Iterable<[string, string]>): void {
    for (const [name, path] of outputs) if (path) this.outputsOf.set(path, [drvPath, name]);
  }

  /** A store path the evaluation reads that is the output of one of its derivations: build it now. */
  private realiseOutput(sp: string): StoreTree | null {
    const known = this.outputsOf.get(sp);
    if (!known) return null;
    const [drvPath, output] = known;
    if (this.realise === undefined || typeof this.realise === "string") {
      const why = this.realise ?? "this evaluator cannot build";
      if (why === "disabled") throw new EvalError(`cannot build '${drvPath}^${output}' during evaluation because the option 'allow-import-from-derivation' is disabled`);
      throw new EvalError(`cannot build '${drvPath}^${output}' during evaluation: ${why}`);
    }
    for (const o of this.realise(drvPath, this)) {
      this.fromStore.set(o.path, { kind: "memory", node: o.tree });
      this.outputsOf.delete(o.path);
    }
    return this.fromStore.get(sp) ?? null;
  }

  // ------------------------------------------------------------ EvalIO

  fileType(path: string): FileType | null {
    const loc = this.locate(path, false);
    if (loc === null) return null;
    return "host" in loc ? this.host.fileType(loc.host) : loc.stat.type;
  }

  resolvedType(path: string): FileType | null {
    const loc = this.locate(path, true);
    if (loc === null) return null;
    return "host" in loc ? this.host.resolvedType(loc.host) : loc.stat.type;
  }

  readFile(path: string): Uint8Array {
    const loc = this.existing(path);
    if ("host" in loc) return this.host.readFile(loc.host);
    if (loc.stat.type === "directory") throw new IOError(`'${path}' is a directory`, "EISDIR");
    return this.trees.readFile(loc.tree, loc.rel);
  }

  readTextFile(path: string): string {
    const loc = this.existing(path);
    if ("host" in loc) return this.host.readTextFile(loc.host);
    if (loc.tree.kind === "text" && loc.rel === "") return loc.tree.text();
    return Buffer.from(this.readFile(path)).toString("utf8");
  }

  readDir(path: string): [string, FileType][] {
    const loc = this.existing(path);
    if ("host" in loc) return this.host.readDir(loc.host);
    if (loc.stat.type !== "directory") throw new IOError(`'${path}' is not a directory`, "ENOTDIR");
    return this.trees.readDir(loc.tree, loc.rel);
  }

  fileStamp(path: string): FileStamp | null {
    const loc = this.locate(path, true);
    if (loc === null) return null;
    if ("host" in loc) return this.host.fileStamp(loc.host);
    if (loc.stat.type !== "regular") return null;
    // a store path's contents never change: its name stands for them
    return { stamp: `store:${loc.sp}/${loc.rel}`, size: loc.stat.size, changedMs: 0 };
  }

  isOwnStorePath(storePath: string): boolean {
    return this.added.has(storePath);
  }

  realPath(path: string): string {
    const loc = this.locate(path, true);
    if (loc === null) return canonPath(path);
    if ("host" in loc) {
      try {
        return realpathSync(loc.host);
      } catch {
        return loc.host;
      }
    }
    return loc.rel === "" ? loc.sp : `${loc.sp}/${loc.rel}`;
  }

  importPath(path: string, opts: ImportOptions): string {
    const name = opts.name ?? baseNameOf(path);
    const algo = opts.expected?.algo ?? "sha256";
    const loc = this.locate(path, false);
    if (loc === null) throw new IOError(`path '${path}' does not exist`, "ENOENT");
    const root = "host" in loc ? loc.host : loc.rel === "" ? loc.sp : `${loc.sp}/${loc.rel}`;
    const acc = "host" in loc ? hostTree : this.accessor(loc);
    const userFilter = opts.filter;
    const included = userFilter ? new Set<string>() : null;
    const filter = userFilter
      ? (p: string, type: FileType) => {
          const keep = userFilter(p, type);
          if (keep) included!.add(p.slice(root.length + 1));
          return keep;
        }
      : undefined;
    let hash: Hash;
    try {
      const compute = () => (opts.flat ? hashTreeFile(acc, root, algo) : hashTreeNar(acc, root, algo, filter).hash);
      // (a filtered import depends on the filter too: not kept)
      hash = "host" in loc && !userFilter ? cachedImportHash(this.importCache, root, algo, !!opts.flat, compute) : compute();
    } catch (e) {
      if (e instanceof EvalError) throw e;
      throw ioError(e);
    }
    if (opts.expected && !opts.expected.equals(hash))
      throw new EvalError(`store path mismatch in (possibly filtered) path added from '${path}'`);
    const sp = makeFixedOutputPath(name, hash, !opts.flat, [], this.storeDir).toAbsolute(this.storeDir);
    if (!this.added.has(sp)) {
      const keep = included && ((p: string) => included.has(p.slice(root.length + 1)));
      const tree: StoreTree = "host" in loc ? { kind: "host", root, included } : { kind: "memory", node: treeToNode(acc, root, keep ?? undefined) };
      this.add(sp, tree, `fixed:${opts.flat ? "" : "r:"}${hash.format("nix32", true)}`, []);
    }
    return sp;
  }

  // ------------------------------------------------------------ what glue adds

  /** A text file in the store (builtins.toFile, .drv files): returns its path. `text` makes the contents when they are needed. */
  addText(name: string, text: string | (() => string), references: readonly string[], hash?: Hash): string {
    const contents = typeof text === "string" ? () => text : text;
    const h = hash ?? hashBytes("sha256", contents());
    const sp = makeTextPath(name, h, references, this.storeDir).toAbsolute(this.storeDir);
    if (!this.added.has(sp)) this.add(sp, { kind: "text", text: contents }, `text:${h.format("nix32", true)}`, [...references].sort());
    return sp;
  }

  /** A tree the evaluation made in memory (fetched data) under its content address. */
  addTree(storePath: string, node: NarNode, ca: string): void {
    if (!this.added.has(storePath)) this.add(storePath, { kind: "memory", node }, ca, []);
  }

  private add(sp: string, tree: StoreTree, ca: string, references: string[]): void {
    this.added.set(sp, tree);
    // what a build during evaluation needs in the store is kept as well
    if (this.writes || typeof this.realise === "function") this.pending.set(sp, { storePath: sp, references, ca, tree });
  }

  /** Whether a store path is valid for this evaluation: added by it, in the configured store, or on the host. */
  isValidPath(storePath: string): boolean {
    return this.treeOf(storePath) !== null || this.host.fileType(storePath) !== null;
  }

  // ------------------------------------------------------------ resolving paths

  private existing(path: string): Exclude<Located, null> {
    const loc = this.locate(path, true);
    if (loc === null) throw new IOError(`'${path}' does not exist`, "ENOENT");
    return loc;
  }

  /**
   * Where a path's contents are: an entry of a store path's tree (symlinks
   * in it followed, the last one only with `follow`), a host path, or null
   * when a store path's tree does not have it.
   */
  private locate(path: string, follow: boolean): Located | null {
    const prefix = this.storeDir + "/";
    let p = canonPath(path);
    for (let hops = 0; ; hops++) {
      if (hops > MAX_SYMLINK_HOPS) throw new IOError(`too many levels of symbolic links in '${path}'`, "ELOOP");
      if (!p.startsWith(prefix)) return { host: p };
      const slash = p.indexOf("/", prefix.length);
      const sp = slash < 0 ? p : p.slice(0, slash);
      const tree = this.treeOf(sp) ?? this.realiseOutput(sp);
      if (tree === null) return { host: p };
      const parts = slash < 0 ? [] : p.slice(slash + 1).split("/");
      let rel = "";
      let st = this.trees.lstat(tree, "");
      let next: string | null = null;
      for (let i = 0; st !== null; i++) {
        const last = i === parts.length;
        if (st.type === "symlink" && (!last || follow)) {
          const target = this.trees.readLink(tree, rel);
          const dir = rel === "" ? this.storeDir : rel.includes("/") ? `${sp}/${rel.slice(0, rel.lastIndexOf("/"))}` : sp;
          const base = target.startsWith("/") ? target : `${dir}/${target}`;
          next = canonPath(last ? base : `${base}/${parts.slice(i).join("/")}`);
          break;
        }
        if (last) return { tree, sp, rel, stat: st };
        if (st.type !== "directory") return null;
        rel = rel === "" ? parts[i] : `${rel}/${parts[i]}`;
        st = this.trees.lstat(tree, rel);
      }
      if (next === null) return null;
      p = next;
    }
  }

  /** The tree of a store path: added by this evaluation, or the configured store's; null for neither. */
  private treeOf(sp: string): StoreTree | null {
    const t = this.added.get(sp);
    if (t !== undefined) return t;
    if (this.store === null) return null;
    let c = this.fromStore.get(sp);
    if (c === undefined) {
      c = null;
      if (isStorePath(sp, this.storeDir)) {
        const r = this.store.root(sp);
        if (r !== null) c = "castore" in r ? { kind: "castore", node: r.castore } : { kind: "memory", node: r.tree };
      }
      this.fromStore.set(sp, c);
    }
    return c;
  }

  /** A located store path's tree as a TreeAccessor, for dumpTree (paths under loc.sp). */
  private accessor(loc: { tree: StoreTree; sp: string }): TreeAccessor {
    const relOf = (p: string) => (p === loc.sp ? "" : p.slice(loc.sp.length + 1));
    return {
      lstat: (p) => {
        const st = this.trees.lstat(loc.tree, relOf(p));
        if (st === null) throw new IOError(`'${p}' does not exist`, "ENOENT");
        return st;
      },
      readDir: (p) => this.trees.readDir(loc.tree, relOf(p)).map(([n]) => n),
      readLink: (p) => this.trees.readLink(loc.tree, relOf(p)),
      readFile: (p) => this.trees.readFile(loc.tree, relOf(p)),
    };
  }
}
