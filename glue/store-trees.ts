// Where the contents of a store path are, for reading during evaluation:
// a host directory the evaluation added (read where it lies, with what its
// filter kept), a tree held in memory (toFile, .drv files, fetched data), or
// a castore root node of the configured store. Each is read through the
// same small interface, by paths relative to the store path's root.
import type { FileType, NarNode } from "../core/nar";
import type { CastoreNode, Directory } from "../core/castore";
import { IOError } from "../eval/io";
import { encodeEscapedBytes } from "../core/bytes";
import type { HostFS } from "./host-fs";

export type StoreTree =
  /** A host path added by this evaluation; `included` holds the relative paths its filter kept (null: everything). */
  | { kind: "host"; root: string; included: Set<string> | null }
  | { kind: "memory"; node: NarNode }
  /** A text file whose contents are made when they are read (toFile results, .drv files). */
  | { kind: "text"; text: () => string }
  | { kind: "castore"; node: CastoreNode };

/** A directory entry's metadata. */
export interface TreeStat {
  type: FileType;
  size: number;
  executable: boolean;
}

/** Synchronous reads from the configured store (glue/store-reader.ts). */
export interface SyncStoreReader {
  /** A valid store path's contents: its castore root node, or (stores without castore) its tree; null when the store lacks it. */
  root(storePath: string): { castore: CastoreNode } | { tree: NarNode } | null;
  directory(digest: Uint8Array): Directory;
  blob(digest: Uint8Array): Uint8Array;
}

const dec = new TextDecoder();

/** Reads the trees: `rel` is a path relative to the tree's root ("" for the root), without a leading slash. */
export class TreeReader {
  constructor(
    private readonly host: HostFS,
    private readonly store: SyncStoreReader | null,
  ) {}

  lstat(t: StoreTree, rel: string): TreeStat | null {
    switch (t.kind) {
      case "host": {
        if (!this.kept(t, rel)) return null;
        const st = this.host.lstat(hostPath(t, rel));
        if (st === null) return null;
        const type: FileType = st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "directory" : st.isFile() ? "regular" : "unknown";
        return { type, size: st.size, executable: (st.mode & 0o100) !== 0 };
      }
      case "memory": {
        const n = memoryNode(t.node, rel);
        if (n === null) return null;
        return n.type === "regular" ? { type: "regular", size: n.contents.length, executable: n.executable } : { type: n.type, size: 0, executable: false };
      }
      case "text":
        return rel === "" ? { type: "regular", size: encodeEscapedBytes(t.text()).length, executable: false } : null;
      case "castore": {
        const n = this.castoreNode(t.node, rel);
        if (n === null) return null;
        if (n.type === "file") return { type: "regular", size: Number(n.size), executable: n.executable };
        return { type: n.type, size: 0, executable: false };
      }
    }
  }

  readDir(t: StoreTree, rel: string): [string, FileType][] {
    switch (t.kind) {
      case "host": {
        const entries = this.host.readDir(hostPath(t, rel));
        if (t.included === null) return entries;
        return entries.filter(([name]) => t.included!.has(rel === "" ? name : `${rel}/${name}`));
      }
      case "memory": {
        const n = memoryNode(t.node, rel);
        if (n?.type !== "directory") throw new IOError(`'${rel}' is not a directory`, "ENOTDIR");
        return [...n.entries].map(([name, c]) => [name, c.type]);
      }
      case "text":
        throw new IOError(`'${rel}' is not a directory`, "ENOTDIR");
      case "castore": {
        const n = this.castoreNode(t.node, rel);
        if (n?.type !== "directory") throw new IOError(`'${rel}' is not a directory`, "ENOTDIR");
        const d = this.dir(n.digest);
        const out: [string, FileType][] = [];
        for (const e of d.directories) out.push([dec.decode(e.name), "directory"]);
        for (const e of d.files) out.push([dec.decode(e.name), "regular"]);
        for (const e of d.symlinks) out.push([dec.decode(e.name), "symlink"]);
        return out;
      }
    }
  }

  readLink(t: StoreTree, rel: string): string {
    switch (t.kind) {
      case "host":
        return this.host.readLink(hostPath(t, rel));
      case "memory": {
        const n = memoryNode(t.node, rel);
        if (n?.type !== "symlink") throw new IOError(`'${rel}' is not a symlink`, "EINVAL");
        return n.target;
      }
      case "text":
        throw new IOError(`'${rel}' is not a symlink`, "EINVAL");
      case "castore": {
        const n = this.castoreNode(t.node, rel);
        if (n?.type !== "symlink") throw new IOError(`'${rel}' is not a symlink`, "EINVAL");
        return dec.decode(n.target);
      }
    }
  }

  readFile(t: StoreTree, rel: string): Uint8Array {
    switch (t.kind) {
      case "host":
        return this.host.readFile(hostPath(t, rel));
      case "memory": {
        const n = memoryNode(t.node, rel);
        if (n?.type !== "regular") throw new IOError(`'${rel}' is not a regular file`, n?.type === "directory" ? "EISDIR" : "ENOENT");
        return n.contents;
      }
      case "text":
        if (rel !== "") throw new IOError(`'${rel}' does not exist`, "ENOENT");
        return encodeEscapedBytes(t.text());
      case "castore": {
        const n = this.castoreNode(t.node, rel);
        if (n?.type !== "file") throw new IOError(`'${rel}' is not a regular file`, n?.type === "directory" ? "EISDIR" : "ENOENT");
        return this.store!.blob(n.digest);
      }
    }
  }

  /** Whether a host tree's filter kept this entry (and so every directory above it). */
  private kept(t: { included: Set<string> | null }, rel: string): boolean {
    return rel === "" || t.included === null || t.included.has(rel);
  }

  private readonly dirs = new Map<string, Directory>();
  private dir(digest: Uint8Array): Directory {
    const key = Buffer.from(digest).toString("hex");
    let d = this.dirs.get(key);
    if (d === undefined) this.dirs.set(key, (d = this.store!.directory(digest)));
    return d;
  }

  private castoreNode(root: CastoreNode, rel: string): CastoreNode | null {
    if (rel === "") return root;
    let n: CastoreNode = root;
    for (const c of rel.split("/")) {
      if (n.type !== "directory") return null;
      const d = this.dir(n.digest);
      const found = findEntry(d, c);
      if (found === null) return null;
      n = found;
    }
    return n;
  }
}

function hostPath(t: { root: string }, rel: string): string {
  return rel === "" ? t.root : `${t.root}/${rel}`;
}

function memoryNode(root: NarNode, rel: string): NarNode | null {
  if (rel === "") return root;
  let n: NarNode | undefined = root;
  for (const c of rel.split("/")) {
    n = n.type === "directory" ? n.entries.get(c) : undefined;
    if (n === undefined) return null;
  }
  return n;
}

const enc = new TextEncoder();

function findEntry(d: Directory, name: string): CastoreNode | null {
  const nb = enc.encode(name);
  const eq = (a: Uint8Array) => a.length === nb.length && Buffer.compare(a, nb) === 0;
  for (const e of d.directories) if (eq(e.name)) return { type: "directory", ...e };
  for (const e of d.files) if (eq(e.name)) return { type: "file", ...e };
  for (const e of d.symlinks) if (eq(e.name)) return { type: "symlink", ...e };
  return null;
}
