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
import { open } from "node:fs/promises";
import { isAbsolute, join, normalize } from "node:path";
import type { Worker } from "node:worker_threads";
import { lazyModule } from "../core/lazy-module";
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
  /** commit() on the view's thread (with the trees it writes). */
  commitOffThread(): Promise<void>;
  discard(): void;
}

export class RealStoreDir {
  private readonly plainDir: boolean;
  constructor(readonly dir: string) {
    mkdirs(dir, 0o755);
    this.plainDir = dir === normalize(dir) && isAbsolute(dir) && dir !== "/" && !dir.endsWith("/");
  }

  private baseOf(storePath: string): string {
    return storePath.slice(storePath.lastIndexOf("/") + 1);
  }

  /** Where a store path's files are. */
  realPath(storePath: string): string {
    return this.under(this.baseOf(storePath));
  }

  /** join(this.dir, name) for one plain name (a store path's base: no "/" in it), without normalising per path. */
  private under(name: string): string {
    return this.plainDir && name !== "" && name !== "." && name !== ".." && !name.includes("/") ? `${this.dir}/${name}` : join(this.dir, name);
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
    return this.under(`.tmp-${this.baseOf(storePath)}-${process.pid}-${tempTag(4)}`);
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

  /**
   * stage() of a NAR already parsed in memory, on a thread of its own: the
   * file system calls (a file's creation may wait for the file system's
   * journal while other writers fsync) stay off the caller's thread.
   */
  async stageTreeOffThread(storePath: string, tree: NarNode): Promise<StagedTree> {
    const tmp = this.tempFor(storePath);
    try {
      await viewWriter().run(tmp, tree);
    } catch (e) {
      removeTree(tmp);
      throw e;
    }
    return this.staged(tmp, this.realPath(storePath));
  }

  /**
   * stage() of a NAR in memory that is one regular file, on libuv's
   * threads: no copy of its contents, and no wait for the file system here.
   */
  async stageFile(storePath: string, file: Extract<NarNode, { type: "regular" }>): Promise<StagedTree> {
    const tmp = this.tempFor(storePath);
    try {
      const fh = await open(tmp, "wx", 0o644);
      try {
        for (let o = 0; o < file.contents.length; ) o += (await fh.write(file.contents, o, file.contents.length - o)).bytesWritten;
        await fh.chmod(file.executable ? 0o555 : 0o444);
        await fh.utimes(1, 1);
      } finally {
        await fh.close();
      }
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
    return new Staged(tmp, target);
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

/** A tree staged at `tmp`, for `target` (a class: one object per path added, not three closures). */
class Staged implements StagedTree {
  private done = false;
  constructor(
    private readonly tmp: string,
    private readonly target: string,
  ) {}

  commit(): void {
    if (this.done) return;
    this.done = true;
    try {
      // a file replaces a file; anything else in the way goes first
      renameSync(this.tmp, this.target);
    } catch (e) {
      if (!IN_THE_WAY.includes((e as NodeJS.ErrnoException).code ?? "")) throw e;
      removeTree(this.target);
      renameSync(this.tmp, this.target);
    }
  }

  async commitOffThread(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await viewWriter().rename(this.tmp, this.target);
    } catch (e) {
      if (!IN_THE_WAY.includes((e as NodeJS.ErrnoException).code ?? "")) throw e;
      removeTree(this.target);
      renameSync(this.tmp, this.target);
    }
  }

  discard(): void {
    if (this.done) return;
    this.done = true;
    removeTree(this.tmp);
  }
}

/** rename(2)'s errors when something other than a file is in the way of the target. */
const IN_THE_WAY = ["EISDIR", "ENOTDIR", "ENOTEMPTY", "EEXIST"];

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

// The thread behind stageTreeOffThread(): trees arrive in batches (what
// was staged within one turn of the event loop), each tree as a list of
// operations (directories before their entries; or a rename into place) with its files' contents in
// the batch's one buffer; it writes them as stageTree() does and answers
// once per batch, with the error of each tree that failed. Plain JS
// evaluated from a string, so that it works from the bundled binary too.
const VIEW_WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
function writeTree(data, ops) {
  const dirs = [];
  for (const op of ops) {
    if (op.t === 0) {
      fs.mkdirSync(op.p, { mode: 0o755 });
      dirs.push(op.p);
    } else if (op.t === 1) {
      const fd = fs.openSync(op.p, "wx", 0o644);
      try {
        let o = 0;
        while (o < op.len) o += fs.writeSync(fd, data, op.off + o, op.len - o);
        fs.fchmodSync(fd, op.x ? 0o555 : 0o444);
        fs.futimesSync(fd, 1, 1);
      } finally {
        fs.closeSync(fd);
      }
    } else if (op.t === 2) {
      fs.symlinkSync(op.target, op.p);
      fs.lutimesSync(op.p, 1, 1);
    } else {
      fs.renameSync(op.p, op.target);
    }
  }
  for (let i = dirs.length - 1; i >= 0; i--) {
    fs.chmodSync(dirs[i], 0o555);
    fs.lutimesSync(dirs[i], 1, 1);
  }
}
parentPort.on("message", (m) => {
  const data = new Uint8Array(m.buf);
  const errors = [];
  for (let i = 0; i < m.trees.length; i++) {
    try {
      writeTree(data, m.trees[i]);
    } catch (e) {
      errors.push({ i, error: e && e.message ? e.message : String(e), code: e && e.code });
    }
  }
  // the buffer goes back, to be used again
  parentPort.postMessage({ id: m.id, errors, buf: m.buf }, [m.buf]);
});
`;

type ViewOp = { t: 0; p: string } | { t: 1; p: string; off: number; len: number; x: boolean } | { t: 2; p: string; target: string } | { t: 3; p: string; target: string };

interface ViewJob {
  ops: ViewOp[];
  files: Uint8Array[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** One thread writing staged trees, referenced (keeping the process alive) only while it has work. */
class ViewWriter {
  private worker: Worker | null = null;
  private batches = new Map<number, ViewJob[]>();
  private nextId = 0;
  private queued: ViewJob[] = [];
  /** Buffers the thread handed back (fresh memory costs a page fault per 4 KiB on first touch). */
  private spare: ArrayBuffer[] = [];

  private start(): Worker {
    if (this.worker) return this.worker;
    // loaded when the thread starts: a build that only materialises need not load it
    const { Worker } = lazyModule<typeof import("node:worker_threads")>("node:worker_threads");
    const w = new Worker(VIEW_WORKER_SOURCE, { eval: true });
    w.unref();
    w.on("message", (m: { id: number; errors: { i: number; error: string; code?: string }[]; buf: ArrayBuffer }) => {
      if (this.spare.length < 4 && m.buf.byteLength <= 16 * 1024 * 1024) this.spare.push(m.buf);
      const jobs = this.batches.get(m.id)!;
      this.batches.delete(m.id);
      if (this.batches.size === 0) w.unref();
      const failed = new Map(m.errors.map((e) => [e.i, e]));
      jobs.forEach((j, i) => {
        const e = failed.get(i);
        if (e) j.reject(Object.assign(new Error(e.error), { code: e.code }));
        else j.resolve();
      });
    });
    w.on("error", (e) => {
      for (const jobs of this.batches.values()) for (const j of jobs) j.reject(e);
      this.batches.clear();
      this.worker = null;
    });
    this.worker = w;
    return w;
  }

  run(tmp: string, tree: NarNode): Promise<void> {
    const ops: ViewOp[] = [];
    const files: Uint8Array[] = [];
    // a work list, not recursion (trees may be deeper than the call stack)
    for (const todo: [string, NarNode][] = [[tmp, tree]]; todo.length > 0; ) {
      const [p, n] = todo.pop()!;
      if (n.type === "directory") {
        ops.push({ t: 0, p });
        const entries = [...n.entries];
        for (let i = entries.length - 1; i >= 0; i--) todo.push([join(p, entries[i][0]), entries[i][1]]);
      } else if (n.type === "symlink") {
        ops.push({ t: 2, p, target: n.target });
      } else {
        ops.push({ t: 1, p, off: 0, len: n.contents.length, x: n.executable });
        files.push(n.contents);
      }
    }
    return this.queue(ops, files);
  }

  /** rename(2) on the thread (an error carries its code). */
  rename(from: string, to: string): Promise<void> {
    return this.queue([{ t: 3, p: from, target: to }], []);
  }

  private queue(ops: ViewOp[], files: Uint8Array[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.queued.length === 0) setImmediate(() => this.send());
      this.queued.push({ ops, files, resolve, reject });
    });
  }

  /** Hands what was queued to the thread: one message, one buffer (a copy: the callers' NARs are still being ingested). */
  private send(): void {
    const jobs = this.queued;
    this.queued = [];
    let size = 0;
    for (const j of jobs) for (const f of j.files) size += f.length;
    const k = this.spare.findIndex((b) => b.byteLength >= size);
    // not zero-filled: every byte is written below
    const ab = k >= 0 ? this.spare.splice(k, 1)[0] : Buffer.allocUnsafeSlow(Math.max(size, 1024 * 1024)).buffer;
    const buf = new Uint8Array(ab, 0, size);
    let off = 0;
    for (const j of jobs) {
      let k = 0;
      for (const op of j.ops) {
        if (op.t !== 1) continue;
        const f = j.files[k++];
        buf.set(f, off);
        op.off = off;
        off += f.length;
      }
      j.files = [];
    }
    const w = this.start();
    if (this.batches.size === 0) w.ref();
    const id = this.nextId++;
    this.batches.set(id, jobs);
    w.postMessage({ id, trees: jobs.map((j) => j.ops), buf: ab }, [ab]);
  }
}

let sharedViewWriter: ViewWriter | null = null;
const viewWriter = () => (sharedViewWriter ??= new ViewWriter());
