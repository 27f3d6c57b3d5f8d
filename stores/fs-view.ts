// A store's paths as real files: <realStoreDir>/<hash>-<name>, what clients
// that read the store directly see (C++ Nix's unix:// clients read NARs,
// `nix store ls/cat` and build logs from the file system, not through the
// daemon). The daemon keeps this view of whatever store it serves: a NAR is
// restored into a temp directory next to its target while it is ingested,
// given Nix's canonical metadata (files 0444/0555, directories 0555, mtime
// 1), and renamed into place before the path is registered, so a name in the
// view is always a complete tree. The view is derived data: it is not
// fsynced (like Nix's own store paths) and `verify --repair` rewrites it from
// the store.
import { chmodSync, closeSync, existsSync, fchmodSync, futimesSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempTag } from "../core/digest";
import { Hash, createHasher } from "../core/hash";
import { readNar, type NarNode } from "../core/nar";
import { dumpPath } from "./host-tree";
import { pidAlive } from "./gc-roots";
import { mkdirs } from "./mkdirs";

/** A restored tree not yet in place. */
export interface StagedTree {
  /** Renames the tree into place, replacing whatever was there. */
  commit(): void;
  discard(): void;
}

export class RealStoreDir {
  constructor(readonly dir: string) {
    mkdirs(dir, 0o755);
  }

  private baseOf(storePath: string): string {
    return storePath.slice(storePath.lastIndexOf("/") + 1);
  }

  /** Where a store path's files are. */
  realPath(storePath: string): string {
    return join(this.dir, this.baseOf(storePath));
  }

  has(storePath: string): boolean {
    try {
      lstatSync(this.realPath(storePath));
      return true;
    } catch {
      return false;
    }
  }

  /** A temp name next to a path's target, for restoring its tree. */
  private tempFor(storePath: string): string {
    return join(this.dir, `.tmp-${this.baseOf(storePath)}-${process.pid}-${tempTag(4)}`);
  }

  /** Restores `nar` (consuming all of it) into a temp tree next to the target. */
  async stage(storePath: string, nar: AsyncIterable<Uint8Array>): Promise<StagedTree> {
    const tmp = this.tempFor(storePath);
    const at = (path: string[]) => (path.length === 0 ? tmp : join(tmp, ...path));
    const dirs: string[] = [];
    try {
      await readNar(nar, {
        directory(path) {
          mkdirSync(at(path), { mode: 0o755 });
          dirs.push(at(path));
        },
        async file(path, executable, _size, contents) {
          const fd = openSync(at(path), "wx", 0o644);
          try {
            for await (const c of contents) writeSync(fd, c);
            finishFile(fd, executable);
          } finally {
            closeSync(fd);
          }
        },
        symlink(path, target) {
          writeSymlink(at(path), target);
        },
      });
      finishDirectories(dirs);
    } catch (e) {
      removeTree(tmp);
      throw e;
    }
    return this.staged(tmp, this.realPath(storePath));
  }

  /** stage() of a NAR already parsed in memory, synchronously. */
  stageTree(storePath: string, tree: NarNode): StagedTree {
    const tmp = this.tempFor(storePath);
    const dirs: string[] = [];
    const write = (p: string, n: NarNode) => {
      if (n.type === "directory") {
        mkdirSync(p, { mode: 0o755 });
        dirs.push(p);
        for (const [name, c] of n.entries) write(join(p, name), c);
      } else if (n.type === "symlink") {
        writeSymlink(p, n.target);
      } else {
        const fd = openSync(p, "wx", 0o644);
        try {
          let o = 0;
          while (o < n.contents.length) o += writeSync(fd, n.contents, o, n.contents.length - o);
          finishFile(fd, n.executable);
        } finally {
          closeSync(fd);
        }
      }
    };
    try {
      write(tmp, tree);
      finishDirectories(dirs);
    } catch (e) {
      removeTree(tmp);
      throw e;
    }
    return this.staged(tmp, this.realPath(storePath));
  }

  private staged(tmp: string, target: string): StagedTree {
    let done = false;
    return {
      commit: () => {
        if (done) return;
        done = true;
        try {
          // a file replaces a file; anything else in the way goes first
          renameSync(tmp, target);
        } catch (e) {
          if (!["EISDIR", "ENOTDIR", "ENOTEMPTY", "EEXIST"].includes((e as NodeJS.ErrnoException).code ?? "")) throw e;
          removeTree(target);
          renameSync(tmp, target);
        }
      },
      discard: () => {
        if (done) return;
        done = true;
        removeTree(tmp);
      },
    };
  }

  /** Removes a path's files; returns the bytes of regular files removed. */
  remove(storePath: string): number {
    const p = this.realPath(storePath);
    if (!existsSync(p) && !isSymlink(p)) return 0;
    const bytes = treeBytes(p);
    removeTree(p);
    return bytes;
  }

  /** The NAR hash (sha256) and size of a path's files as they are on disk. */
  async narHashOnDisk(storePath: string): Promise<{ hash: Hash; size: number }> {
    const h = createHasher("sha256");
    let size = 0;
    for await (const c of dumpPath(this.realPath(storePath))) {
      h.update(c);
      size += c.length;
    }
    return { hash: h.digest(), size };
  }

  /** Temp trees left by a process that died while restoring. */
  removeStrayTemps(): number {
    let n = 0;
    for (const name of readdirSync(this.dir)) {
      const m = /^\.tmp-.*-(\d+)-[0-9a-f]+$/.exec(name);
      if (!m || pidAlive(Number(m[1]))) continue;
      removeTree(join(this.dir, name));
      n++;
    }
    return n;
  }
}

/** Nix's canonical metadata for a written file, through its descriptor (no second and third lookup of the path). */
function finishFile(fd: number, executable: boolean): void {
  fchmodSync(fd, executable ? 0o555 : 0o444);
  futimesSync(fd, 1, 1);
}

function writeSymlink(p: string, target: string): void {
  symlinkSync(target, p);
  lutimesSync(p, 1, 1);
}

/** Directories last, deepest first: read-only once their entries exist. */
function finishDirectories(dirs: string[]): void {
  for (let i = dirs.length - 1; i >= 0; i--) {
    chmodSync(dirs[i], 0o555);
    lutimesSync(dirs[i], 1, 1);
  }
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Bytes of the files below `p` (a work list, not recursion: trees may be deeper than the call stack). */
function treeBytes(p: string): number {
  let n = 0;
  for (const todo = [p]; todo.length > 0; ) {
    const q = todo.pop()!;
    const st = lstatSync(q);
    if (st.isDirectory()) for (const e of readdirSync(q)) todo.push(join(q, e));
    else if (st.isFile()) n += st.size;
  }
  return n;
}

/** rm -rf that also works without root (directories in the view are read-only). */
export function removeTree(p: string): void {
  try {
    rmSync(p, { recursive: true, force: true });
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EACCES" && (e as NodeJS.ErrnoException).code !== "EPERM") throw e;
  }
  for (const todo = [p]; todo.length > 0; ) {
    const q = todo.pop()!;
    if (!lstatSync(q).isDirectory()) continue;
    chmodSync(q, 0o755);
    for (const e of readdirSync(q)) todo.push(join(q, e));
  }
  rmSync(p, { recursive: true, force: true });
}
