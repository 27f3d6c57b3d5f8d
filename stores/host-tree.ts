// The host file system as a TreeAccessor (core/nar.ts): what dumpTree walks
// to hash or serialise a path that is not in a store yet (evaluation adding
// sources, fetchers unpacking archives). File contents are read straight
// into the encoder's buffer, so small files cost no allocation of their own.
import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { NarEncoder, TreeError, dumpTree, type FileType, type TreeAccessor } from "../core/nar";
import { hashBytes, Hash, type HashAlgo } from "../core/hash";
import { createHash } from "../core/digest";

/** A file's type as Nix names it, from its lstat. */
export function fileTypeOf(st: Stats): FileType {
  return st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "directory" : st.isFile() ? "regular" : "unknown";
}

export const hostTree: TreeAccessor = {
  lstat(path) {
    const st = lstatSync(path);
    return { type: fileTypeOf(st), size: st.size, executable: (st.mode & 0o100) !== 0 };
  },
  readDir: (path) => readdirSync(path),
  readLink: (path) => readlinkSync(path),
  readFile: (path) => readFileSync(path),
  readFileInto(path, size, enc) {
    const fd = openSync(path, "r");
    try {
      for (let left = size; left > 0; ) {
        const room = enc.space(left);
        const got = readSync(fd, room, 0, room.length, null);
        if (got === 0) throw new TreeError(`file '${path}' changed size while it was read`);
        enc.commit(got);
        left -= got;
      }
    } finally {
      closeSync(fd);
    }
  },
};

/** The hash of a path's NAR, computed while it is read (the NAR is never held). */
export function hashTreeNar(acc: TreeAccessor, path: string, algo: HashAlgo, filter?: (path: string, type: FileType) => boolean): { hash: Hash; size: number } {
  const h = createHash(algo);
  const enc = new NarEncoder((c) => h.update(c));
  dumpTree(acc, path, enc, filter);
  enc.finish();
  return { hash: new Hash(algo, new Uint8Array(h.digest())), size: enc.size };
}

/** The hash of a regular file's bytes (flat hashing). */
export function hashTreeFile(acc: TreeAccessor, path: string, algo: HashAlgo): Hash {
  if (acc.lstat(path).type !== "regular") throw new TreeError(`file '${path}' has an unsupported type for flat hashing (it must be a regular file)`);
  return hashBytes(algo, acc.readFile(path));
}

/** The NAR of a host path (as `nix-store --dump`), as a stream. */
export async function* dumpPath(fsPath: string): AsyncIterable<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const enc = new NarEncoder((c, transient) => chunks.push(transient ? new Uint8Array(c) : c), 1 << 20);
  dumpTree(hostTree, fsPath, enc);
  enc.finish();
  yield* chunks;
}
