// Crash-safe file writes with group commit.
//
// Every file is written to <root>/tmp/ first; it appears under its final
// name only by rename(2), after its data is on disk. So a reader (or a
// process that was killed with SIGKILL, or a machine that lost power) never
// sees a partial file under a final name: only stray temp files, which the
// next writer to open the store (and `tvix store verify`) removes.
//
// fsync per file costs ~0.5-2 ms, which dominates importing many small files.
// Writes are therefore grouped: each write() puts its data into the current
// batch, and one commit makes the whole batch durable. A commit is split
// between a few worker threads; each writes its files to temp files,
// fdatasyncs each (several workers at once, so the file system's journal
// commits are shared between them), and renames them into place; then the
// directories that got new names are fsynced. (One syncfs(2) per batch was
// measured 2x slower: it flushes the whole file system.) The workers keep
// the main thread free of blocking file creation and fsync, which contend
// for the journal: the caller keeps hashing and chunking the next batch.
// write() resolves only after its commit, so "durable when the promise
// resolves" holds for every caller; many callers share one commit (and one
// promise). Several commits may run at once; waitForRoom() bounds the bytes
// queued. Without fsync (?fsync=false) the main thread writes and renames
// itself: nothing blocks for long then, and handing data to threads costs more.
//
// Content-addressed objects (chunks, manifests, directories) can instead be
// packed: each is copied at once into the batch's pack buffer (reused from
// batch to batch: fresh memory costs page faults), and the commit writes that
// as one pack file (stores/pack.ts) on libuv's thread pool, fdatasyncs it,
// renames it into packs/, fsyncs packs/ and then adds it to the store's
// PackSet. One fdatasync per batch instead of one per object.
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tempTag } from "../core/digest";
import type { Worker } from "node:worker_threads";
import { lazyModule } from "../core/lazy-module";
import { PackBuilder, type ObjectKind } from "./pack";
import { objectKey, type PackSet } from "./pack-set";
import { mkdirs } from "./mkdirs";

interface Item {
  tmp: string;
  final: string;
  data: Uint8Array;
  mode: number;
}

interface Batch {
  items: Item[];
  /** This batch's pack, when it has objects. */
  pack: PackBuilder | null;
  /** Keys under which the batch's writes are pending (final paths, object keys). */
  keys: string[];
  bytes: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Worker threads writing and fsyncing at once (measured on 2 cores: 4 and 8 about equal, 16 no faster). */
const WORKERS = 4;
const MAX_BATCH_FILES = 4096;
const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/**
 * How long a batch waits for more writes while commits are running. With
 * none running the writer is idle and commits at setImmediate (what one
 * event-loop turn queued: e.g. a build's outputs, or one path info), as
 * waiting then only adds latency.
 */
const BATCH_DELAY_MS = 3;
/** Batches up to this size are written on libuv's thread pool (see commit()). */
const SMALL_BATCH_FILES = 8;
const SMALL_BATCH_BYTES = 256 * 1024;
/** waitForRoom() waits while more than this is queued for commits. */
const MAX_QUEUED_BYTES = 256 * 1024 * 1024;
const MAX_QUEUED_FILES = 4 * MAX_BATCH_FILES;
/** Pack buffers: room for a full batch plus its last object; a few are kept for reuse. */
const PACK_BUFFER = MAX_BATCH_BYTES + 1024 * 1024;
const KEEP_PACK_BUFFERS = 4;

interface BuiltPack {
  tmp: string;
  final: string;
  body: Uint8Array;
  tail: Uint8Array;
  index: Uint8Array;
  indexOff: number;
  buffer: Uint8Array;
}

// The worker: writes each item of a group from one transferred buffer to its
// temp file, fdatasyncs it, closes it, then renames
// every item into place. Plain JS evaluated from a string, so that it works
// from the bundled binary too.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
parentPort.on("message", (m) => {
  try {
    const data = new Uint8Array(m.buf);
    for (const it of m.items) {
      const fd = fs.openSync(it.tmp, "wx", it.mode);
      try {
        let o = 0;
        while (o < it.len) o += fs.writeSync(fd, data, it.off + o, it.len - o);
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const it of m.items) fs.renameSync(it.tmp, it.final);
    parentPort.postMessage({ id: m.id });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: e && e.message ? e.message : String(e), code: e && e.code });
  }
});
`;

interface Job {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A small pool of writer threads, referenced (keeping the process alive) only while they have work. */
class WriterPool {
  private workers: Worker[] = [];
  /** Whether a writer thread runs already (then small batches use it too). */
  get started(): boolean {
    return this.workers.length > 0;
  }
  private jobs = new Map<number, Job>();
  private busy: number[] = [];
  private nextId = 0;
  private nextWorker = 0;

  private worker(i: number): Worker {
    let w = this.workers[i];
    if (w) return w;
    // (node:worker_threads is loaded only by a writer that starts its threads)
    const { Worker } = lazyModule<typeof import("node:worker_threads")>("node:worker_threads");
    w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on("message", (m: { id: number; error?: string; code?: string }) => {
      const job = this.jobs.get(m.id)!;
      this.jobs.delete(m.id);
      if (--this.busy[i] === 0) w.unref();
      if (m.error === undefined) job.resolve();
      else job.reject(Object.assign(new Error(m.error), { code: m.code }));
    });
    w.on("error", (e) => {
      for (const j of this.jobs.values()) j.reject(e);
      this.jobs.clear();
    });
    this.workers[i] = w;
    this.busy[i] = 0;
    return w;
  }

  run(items: Item[]): Promise<void> {
    const total = items.reduce((n, i) => n + i.data.length, 0);
    const buf = new Uint8Array(total);
    let off = 0;
    const msgItems = items.map((i) => {
      buf.set(i.data, off);
      const r = { tmp: i.tmp, final: i.final, mode: i.mode, off, len: i.data.length };
      off += i.data.length;
      i.data = EMPTY; // the copy goes to the thread; don't keep the original until the commit ends
      return r;
    });
    const id = this.nextId++;
    const wi = this.nextWorker++ % WORKERS;
    const w = this.worker(wi);
    if (this.busy[wi]++ === 0) w.ref();
    return new Promise<void>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      w.postMessage({ id, buf: buf.buffer, items: msgItems }, [buf.buffer]);
    });
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

let counter = 0;
const EMPTY = new Uint8Array(0);

export class DurableWriter {
  readonly tmpDir: string;
  /** Temp files of dead processes removed when this writer started. */
  readonly strayTempFilesRemoved: number;
  private batch: Batch | null = null;
  private commits = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private pending = new Map<string, Promise<void>>();
  private madeDirs = new Set<string>();
  private pool = new WriterPool();
  private queuedBytes = 0;
  private queuedFiles = 0;
  private roomWaiters: (() => void)[] = [];
  private packBuffers: Uint8Array[] = [];
  /** Counters for benchmarks and tests. */
  stats = { files: 0, objects: 0, packs: 0, commits: 0 };
  /** Random part of temp file names (with the pid and a counter: unique). */
  private readonly tag = tempTag(4);

  /**
   * `packs`: where packObject() writes go (and their packs are registered
   * once durable); without it, packObject() is not available.
   */
  constructor(readonly root: string, private readonly fsync = true, private readonly packs: PackSet | null = null) {
    this.tmpDir = join(root, "tmp");
    mkdirs(this.tmpDir, 0o755);
    // what a killed writer left (the next writer cleans up after it)
    this.strayTempFilesRemoved = removeStrayTempFiles(this.tmpDir);
  }

  /**
   * Adds a content-addressed object to the next pack, unless a write of it
   * is pending (then shares it) or `present()` says it is stored already
   * (then null). `data` is copied before this returns.
   */
  packObjectOrNull(kind: ObjectKind, digest: Uint8Array, data: Uint8Array, present: () => boolean): Promise<void> | null {
    if (!this.packs) throw new Error("DurableWriter: packObjectOrNull() needs a PackSet");
    const key = objectKey(kind, digest);
    const p = this.pending.get(key);
    if (p) return p;
    if (present()) return null;
    const b = (this.batch ??= newBatch());
    b.pack ??= new PackBuilder(this.packBuffers.pop() ?? new Uint8Array(PACK_BUFFER));
    b.pack.add(kind, digest, data);
    this.stats.objects++;
    return this.added(b, key, data.length);
  }

  /**
   * Writes a content-addressed file: a no-op when `final` exists (its
   * content can only be the same), shared with a concurrent write of it.
   * `data` must not be modified afterwards (it is written at commit time).
   */
  writeNew(final: string, data: Uint8Array): Promise<void> {
    return this.writeNewOrNull(final, data) ?? Promise.resolve();
  }

  /** writeNew(), but null when the file exists (nothing to wait for); `copy`: the caller reuses `data`. */
  writeNewOrNull(final: string, data: Uint8Array, copy = false): Promise<void> | null {
    const p = this.pending.get(final);
    if (p) return p;
    if (existsSync(final)) return null;
    return this.enqueue(final, copy ? new Uint8Array(data) : data, 0o444); // (Buffer.slice() would be a view)
  }

  /** Writes (or atomically replaces) a file. */
  replace(final: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
    return this.enqueue(final, typeof data === "string" ? Buffer.from(data) : data, mode);
  }

  /** Removes a file (after a pending write of it), durably: its directory is fsynced. */
  async remove(final: string): Promise<void> {
    const p = this.pending.get(final);
    if (p) await p.catch(() => {});
    try {
      await unlink(final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      return;
    }
    if (this.fsync) await syncDirs([dirname(final)]);
  }

  /** Null when little is queued, else a promise that resolves once commits have caught up. */
  waitForRoom(): Promise<void> | null {
    if (this.queuedBytes <= MAX_QUEUED_BYTES && this.queuedFiles <= MAX_QUEUED_FILES) return null;
    return new Promise<void>((r) => this.roomWaiters.push(r));
  }

  private enqueue(final: string, data: Uint8Array, mode: number): Promise<void> {
    const tmp = join(this.tmpDir, `${process.pid}-${++counter}-${this.tag}`);
    const b = (this.batch ??= newBatch());
    b.items.push({ tmp, final, data, mode });
    this.stats.files++;
    return this.added(b, final, data.length);
  }

  private added(b: Batch, key: string, bytes: number): Promise<void> {
    b.bytes += bytes;
    b.keys.push(key);
    this.queuedBytes += bytes;
    this.queuedFiles++;
    // one promise per batch, shared by all its writes
    this.pending.set(key, b.done);
    if (b.keys.length >= MAX_BATCH_FILES || b.bytes >= MAX_BATCH_BYTES) this.startCommit();
    else if (this.commits.size === 0 && !this.timer)
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.startCommit();
      });
    else this.timer ??= setTimeout(() => {
      this.timer = null;
      this.startCommit();
    }, BATCH_DELAY_MS);
    return b.done;
  }

  private startCommit(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    const b = this.batch;
    if (!b) return;
    this.batch = null;
    const c: Promise<void> = this.commit(b)
      .then(b.resolve, b.reject)
      .finally(() => {
        for (const k of b.keys) if (this.pending.get(k) === b.done) this.pending.delete(k);
        this.queuedBytes -= b.bytes;
        this.queuedFiles -= b.keys.length;
        if (this.queuedBytes <= MAX_QUEUED_BYTES && this.queuedFiles <= MAX_QUEUED_FILES) for (const w of this.roomWaiters.splice(0)) w();
        this.commits.delete(c);
      });
    this.commits.add(c);
  }

  private async commit(b: Batch): Promise<void> {
    this.stats.commits++;
    const dirs = new Set<string>();
    let pack: BuiltPack | null = null;
    if (b.pack) {
      const name = `${Date.now().toString(36)}-${process.pid}-${this.tag}-${++counter}.pack`;
      pack = { tmp: join(this.tmpDir, `${process.pid}-${++counter}-${this.tag}`), final: join(this.packs!.dir, name), ...b.pack.finish() };
      b.pack = null;
      dirs.add(this.packs!.dir);
      this.stats.packs++;
    }
    // the pack goes to libuv's threads at once, alongside the loose files below
    const packWritten = pack && this.writePack(pack);
    packWritten?.catch(() => {}); // awaited below
    for (const { final } of b.items) {
      const dir = dirname(final);
      if (!this.madeDirs.has(dir)) {
        mkdirs(dir, 0o755);
        this.madeDirs.add(dir);
      }
      dirs.add(dir);
    }
    if (!this.fsync) {
      // without fsync nothing blocks for long: writing here is cheaper than handing the data to a thread
      for (const it of b.items) writeFileSync(it.tmp, it.data, { flag: "wx", mode: it.mode });
      for (const it of b.items) renameSync(it.tmp, it.final);
      if (pack) {
        await packWritten;
        this.packs!.addCommitted(pack.final, pack.index, pack.indexOff);
      }
      return;
    }
    // a few small files (a build's path infos, one .drv): libuv's thread
    // pool writes and fdatasyncs them; starting writer threads costs more
    if (b.items.length <= SMALL_BATCH_FILES && b.bytes <= SMALL_BATCH_BYTES && !this.pool.started) {
      const results = await Promise.allSettled([...b.items.map(writeSynced), ...(packWritten ? [packWritten] : [])]);
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await syncDirs([...dirs]);
      if (pack) this.packs!.addCommitted(pack.final, pack.index, pack.indexOff);
      return;
    }
    // split into groups of similar byte counts, one per worker
    const groups: Item[][] = [];
    const per = Math.max(b.items.reduce((n, it) => n + it.data.length, 0) / WORKERS, 1);
    let cur: Item[] = [];
    let curBytes = 0;
    for (const it of b.items) {
      cur.push(it);
      curBytes += it.data.length;
      if (curBytes >= per && groups.length < WORKERS - 1) {
        groups.push(cur);
        cur = [];
        curBytes = 0;
      }
    }
    if (cur.length) groups.push(cur);
    const results = await Promise.allSettled([...groups.map((g) => this.pool.run(g)), ...(packWritten ? [packWritten] : [])]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    await syncDirs([...dirs]);
    if (pack) this.packs!.addCommitted(pack.final, pack.index, pack.indexOff);
  }

  /** Writes a pack to its temp file (fdatasynced unless fsync is off) and renames it into place. */
  private async writePack(p: BuiltPack): Promise<void> {
    const fh = await open(p.tmp, "wx", 0o444);
    try {
      try {
        await writeAll(fh, p.body);
      } finally {
        // written (or failed): the buffer can take the next batch's objects
        if (p.buffer.length === PACK_BUFFER && this.packBuffers.length < KEEP_PACK_BUFFERS) this.packBuffers.push(p.buffer);
      }
      await writeAll(fh, p.tail);
      if (this.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(p.tmp, p.final);
  }

  /** Waits until every write so far is committed. */
  async flush(): Promise<void> {
    while (this.batch || this.commits.size) {
      if (this.batch) this.startCommit();
      await Promise.allSettled([...this.commits]);
    }
  }

  /** Flushes, then stops the writer threads. */
  async close(): Promise<void> {
    await this.flush();
    await this.pool.close();
  }
}

async function writeAll(fh: FileHandle, b: Uint8Array): Promise<void> {
  let o = 0;
  while (o < b.length) o += (await fh.write(b, o, b.length - o)).bytesWritten;
}

/** Writes one item to its temp file, fdatasyncs it and renames it into place. */
async function writeSynced(it: Item): Promise<void> {
  const fh = await open(it.tmp, "wx", it.mode);
  try {
    await writeAll(fh, it.data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(it.tmp, it.final);
}

/** fsyncs directories, 8 at a time on libuv's thread pool. */
async function syncDirs(paths: string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const fh = await open(paths[next++], "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, paths.length) }, worker));
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {}); // failures reach callers through their own promises
  return { items: [], pack: null, keys: [], bytes: 0, done, resolve, reject };
}

/** Removes temp files whose writer process is gone (names start with the writer's pid). */
export function removeStrayTempFiles(tmpDir: string): number {
  let n = 0;
  for (const name of readdirSync(tmpDir)) {
    const pid = Number(name.split("-")[0]);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && isAlive(pid))) continue;
    rmSync(join(tmpDir, name), { force: true });
    n++;
  }
  return n;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
