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
//
// Replaced and removed files (path infos: replace(), remove()) go through
// the journal (stores/journal.ts): one journal file per batch is written and
// fdatasynced, then the batch's files are written without fsync and renamed
// into place; a checkpoint later makes them durable and drops the journal
// file. One fdatasync per batch instead of one per path info, and no file
// creation waiting for the file system's journal on the caller's side.
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, relative } from "node:path";
import { tempTag } from "../core/digest";
import type { Worker } from "node:worker_threads";
import { lazyModule } from "../core/lazy-module";
import { PackBuilder, type ObjectKind } from "./pack";
import { objectKey, type PackSet } from "./pack-set";
import { mkdirs } from "./mkdirs";
import { encodeJournal, journalName, recoverJournal, type JournalRecord } from "./journal";

interface Item {
  tmp: string;
  final: string;
  data: Uint8Array;
  mode: number;
}

interface Batch {
  items: Item[];
  /** Journaled replacements and removals (absolute paths), in order. */
  records: JournalRecord[];
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
/**
 * Batches up to this size are written on libuv's thread pool, or by a
 * writer thread already running (see runItems()). Starting a writer thread
 * costs 50-100 ms here (a Node environment, thousands of page faults):
 * twenty .drv files (their path infos, then each build's) used to start
 * all four, one per commit.
 */
const SMALL_BATCH_FILES = 64;
const SMALL_BATCH_BYTES = 256 * 1024;
/** waitForRoom() waits while more than this is queued for commits. */
const MAX_QUEUED_BYTES = 256 * 1024 * 1024;
const MAX_QUEUED_FILES = 4 * MAX_BATCH_FILES;
/**
 * Pack buffers: room for a full batch plus its last object; a few are kept
 * for reuse. A writer's first one starts small, and grows to full size if
 * its batch needs more:
 * 65 MB of fresh external memory at once makes V8 start a full collection
 * (a process that writes one .drv paid 3-15 ms for it).
 */
const PACK_BUFFER = MAX_BATCH_BYTES + 1024 * 1024;
const FIRST_PACK_BUFFER = 1024 * 1024;
const KEEP_PACK_BUFFERS = 4;
/**
 * A journal file is checkpointed (its files fdatasynced, then it is
 * removed) this long after it was written: by then the kernel has usually
 * written those files back (dirty_expire_centisecs is 30 s by default), so
 * that the fdatasyncs find little to do. Sooner past this many records.
 */
const CHECKPOINT_MS = 40_000;
const CHECKPOINT_RECORDS = 100_000;

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
// temp file, fdatasyncs it (unless journaled), closes it, then renames
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
        if (m.sync) fs.fdatasyncSync(fd);
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

  /** Writes `items` on one thread: the next in turn, or with `started` the least busy of those running (none is started then). */
  run(items: Item[], sync = true, started = false): Promise<void> {
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
    let wi = this.nextWorker++ % WORKERS;
    if (started && !this.workers[wi]) {
      let best = -1;
      for (let i = 0; i < this.workers.length; i++) if (this.workers[i] && (best < 0 || this.busy[i] < this.busy[best])) best = i;
      if (best >= 0) wi = best;
    }
    const w = this.worker(wi);
    if (this.busy[wi]++ === 0) w.ref();
    return new Promise<void>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      w.postMessage({ id, buf: buf.buffer, items: msgItems, sync }, [buf.buffer]);
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
  readonly journalDir: string;
  /** Journal files of gone writers replayed when this writer started. */
  readonly journalsReplayed: number;
  /** Journal files written, not yet checkpointed. */
  private journals: { path: string; finals: string[]; at: number }[] = [];
  private journalRecords = 0;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private checkpointing: Promise<void> = Promise.resolve();
  /** When the last checkpoint failed (null: it did not). */
  private checkpointFailedAt: number | null = null;
  private journalDirMade = false;

  /**
   * `packs`: where packObject() writes go (and their packs are registered
   * once durable); without it, packObject() is not available.
   */
  constructor(readonly root: string, private readonly fsync = true, private readonly packs: PackSet | null = null) {
    this.tmpDir = join(root, "tmp");
    mkdirs(this.tmpDir, 0o755);
    // what a killed writer left (the next writer cleans up after it)
    this.strayTempFilesRemoved = removeStrayTempFiles(this.tmpDir);
    this.journalDir = join(root, "journal");
    // what a gone writer was told is durable, made so before anything reads
    this.journalsReplayed = recoverJournal(root, this.tmpDir);
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
    b.pack ??= new PackBuilder(this.packBuffers.pop() ?? new Uint8Array(FIRST_PACK_BUFFER), PACK_BUFFER);
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

  /**
   * Writes (or atomically replaces) a file under the root, through the
   * journal: durable when the promise resolves (the journal file is), the
   * file itself only at the next checkpoint.
   */
  replace(final: string, data: Uint8Array | string, mode = 0o644, after: Promise<unknown>[] = []): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const rel = relativeTo(this.root, final);
    const journaled = this.fsync && !rel.startsWith("..") && !isAbsolute(rel);
    // writes still pending in this batch: a journaled file goes in place only after the batch's pack and files
    if (after.length > 0 && !(journaled && this.inThisBatch(after) && !this.pending.has(final)))
      return (async () => {
        const settled = await Promise.allSettled(after);
        const failed = settled.find((s) => s.status === "rejected");
        if (failed) throw (failed as PromiseRejectedResult).reason;
        return this.replace(final, bytes, mode);
      })();
    if (!journaled) return this.enqueue(final, bytes, mode);
    return this.journaled(final, { path: rel, data: bytes, mode });
  }

  /** Removes a file (after a pending write of it), durably (through the journal, or its directory fsynced). */
  async remove(final: string): Promise<void> {
    const rel = relativeTo(this.root, final);
    if (this.fsync && !rel.startsWith("..") && !isAbsolute(rel)) return this.journaled(final, { path: rel, data: null, mode: 0 });
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

  private async journaled(final: string, r: JournalRecord): Promise<void> {
    // after a pending change of the same file in an earlier batch (batches commit concurrently)
    for (let p = this.pending.get(final); p && p !== this.batch?.done; p = this.pending.get(final)) await p.catch(() => {});
    const b = (this.batch ??= newBatch());
    b.records.push(r);
    this.stats.files++;
    return this.added(b, final, r.data?.length ?? 0);
  }

  /**
   * Whether every promise is this batch's (null: none is pending): then an
   * object packed now is durable with them (one pack file) and a file
   * replaced now goes in place after them.
   */
  inThisBatch(pending: Promise<unknown>[]): boolean {
    const b = this.batch;
    return b !== null && pending.every((p) => p === b.done);
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
    // so does the journal file of the batch's replacements (only with fsync:
    // see replace()), to its temp file: it goes in place after the pack
    const journal = b.records.length ? this.writeJournalTemp(b.records) : null;
    journal?.catch(() => {}); // awaited below
    for (const { final } of b.items) {
      const dir = dirname(final);
      this.madeDir(dir);
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
    try {
      await this.runItems(b.items, true, [packWritten, journal]);
      await syncDirs([...dirs]);
    } catch (e) {
      const tmp = await journal?.catch(() => null);
      if (tmp) await unlink(tmp).catch(() => {});
      throw e;
    }
    if (pack) this.packs!.addCommitted(pack.final, pack.index, pack.indexOff);
    if (journal) {
      // the pack and files this batch's path infos name are durable: now the
      // journal file, and once it is durable the files, without fsync
      const path = join(this.journalDir, journalName(this.tag));
      await rename((await journal)!, path);
      await syncDirs([this.journalDir]);
      const finals = await this.applyRecords(b.records);
      b.records = [];
      this.journals.push({ path, finals, at: Date.now() });
      this.journalRecords += finals.length;
      this.scheduleCheckpoint();
    }
  }

  private madeDir(dir: string): void {
    if (!this.madeDirs.has(dir)) {
      mkdirs(dir, 0o755);
      this.madeDirs.add(dir);
    }
  }

  /** Writes items to temp files (fdatasynced with `sync`) and renames them into place, alongside `others`; throws the first failure. */
  private async runItems(items: Item[], sync: boolean, others: (Promise<unknown> | null)[]): Promise<void> {
    // without fsync one thread does as well as several (nothing waits for the disk)
    const workers = sync ? WORKERS : 1;
    const extra = others.filter((p): p is Promise<unknown> => p !== null);
    let results: PromiseSettledResult<unknown>[];
    if (items.length === 0) {
      results = await Promise.allSettled(extra);
    } else if (items.length <= SMALL_BATCH_FILES && items.reduce((n, it) => n + it.data.length, 0) <= SMALL_BATCH_BYTES) {
      // a few small files (a build's path infos, the .drv files of an
      // evaluation): a writer thread that runs already, else libuv's thread
      // pool; starting writer threads costs more
      const small = this.pool.started ? [this.pool.run(items, sync, true)] : items.map((it) => writeFileAndRename(it, sync));
      results = await Promise.allSettled([...small, ...extra]);
    } else {
      // split into groups of similar byte counts, one per worker
      const groups: Item[][] = [];
      const per = Math.max(items.reduce((n, it) => n + it.data.length, 0) / workers, 1);
      let cur: Item[] = [];
      let curBytes = 0;
      for (const it of items) {
        cur.push(it);
        curBytes += it.data.length;
        if (curBytes >= per && groups.length < workers - 1) {
          groups.push(cur);
          cur = [];
          curBytes = 0;
        }
      }
      if (cur.length) groups.push(cur);
      results = await Promise.allSettled([...groups.map((g) => this.pool.run(g, sync)), ...extra]);
    }
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Writes a batch's journal file to a temp file (fdatasynced); returns its path. */
  private async writeJournalTemp(records: JournalRecord[]): Promise<string> {
    if (!this.journalDirMade) {
      mkdirs(this.journalDir, 0o755);
      await syncDirs([this.root]);
      this.journalDirMade = true;
    }
    const tmp = join(this.tmpDir, `${process.pid}-${++counter}-${this.tag}`);
    const fh = await open(tmp, "wx", 0o444);
    try {
      await writeAll(fh, encodeJournal(records));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  /** Applies a batch's journaled records (the last one of each file counts), without fsync; returns the files. */
  private async applyRecords(records: JournalRecord[]): Promise<string[]> {
    const last = new Map<string, JournalRecord>();
    for (const r of records) last.set(r.path, r);
    const writes: Item[] = [];
    const removals: string[] = [];
    for (const [rel, r] of last) {
      const final = underRoot(this.root, rel);
      if (r.data) {
        this.madeDir(dirname(final));
        writes.push({ tmp: join(this.tmpDir, `${process.pid}-${++counter}-${this.tag}`), final, data: r.data, mode: r.mode });
      } else {
        removals.push(final);
      }
    }
    await this.runItems(writes, false, removals.map((f) => unlink(f).catch((e) => {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    })));
    return [...last.keys()].map((rel) => underRoot(this.root, rel));
  }

  private scheduleCheckpoint(): void {
    // after a failed checkpoint: the next try only CHECKPOINT_MS later (not
    // at once, again and again, while what failed lasts)
    const failed = this.checkpointFailedAt !== null;
    if (this.journalRecords >= CHECKPOINT_RECORDS && !failed) {
      void this.checkpoint(false).catch(() => {}); // tried again later, and at close()
      return;
    }
    if (this.checkpointTimer || this.journals.length === 0) return;
    const due = failed ? this.checkpointFailedAt! + CHECKPOINT_MS : this.journals[0].at + CHECKPOINT_MS;
    const wait = Math.max(0, due - Date.now());
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null;
      void this.checkpoint(false).catch(() => {});
    }, wait);
    this.checkpointTimer.unref();
  }

  /**
   * Makes the files of journal files durable (fdatasync, then their
   * directories) and removes those journal files: every one with `all`,
   * else those older than CHECKPOINT_MS (all of them past CHECKPOINT_RECORDS).
   */
  checkpoint(all: boolean): Promise<void> {
    const run = async () => {
      const now = Date.now();
      const many = this.journalRecords >= CHECKPOINT_RECORDS;
      const take = this.journals.filter((j) => all || many || now - j.at >= CHECKPOINT_MS);
      if (take.length === 0) return;
      const finals = [...new Set(take.flatMap((j) => j.finals))];
      await syncFiles(finals);
      await syncDirs([...new Set(finals.map((f) => dirname(f)))]);
      for (const j of take) await unlink(j.path).catch(() => {});
      await syncDirs([this.journalDir]);
      const gone = new Set(take);
      this.journals = this.journals.filter((j) => !gone.has(j));
      this.journalRecords -= take.reduce((n, j) => n + j.finals.length, 0);
    };
    const p = this.checkpointing.then(run).then(
      () => void (this.checkpointFailedAt = null),
      (e) => {
        this.checkpointFailedAt = Date.now();
        throw e;
      },
    );
    this.checkpointing = p.catch(() => {});
    return p.finally(() => this.scheduleCheckpoint());
  }

  /** Writes a pack to its temp file (fdatasynced unless fsync is off) and renames it into place. */
  private async writePack(p: BuiltPack): Promise<void> {
    const fh = await open(p.tmp, "wx", 0o444);
    try {
      try {
        await writeAll(fh, p.body);
      } finally {
        // written (or failed): the buffer can take the next batch's objects
        if (p.buffer.length >= FIRST_PACK_BUFFER && p.buffer.length <= PACK_BUFFER && this.packBuffers.length < KEEP_PACK_BUFFERS) this.packBuffers.push(p.buffer);
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

  /** Flushes, makes every journaled file durable (no journal file is left), then stops the writer threads. */
  async close(): Promise<void> {
    await this.flush();
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = null;
    try {
      await this.checkpoint(true);
    } finally {
      if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
      this.checkpointTimer = null;
      await this.pool.close();
    }
  }
}

async function writeAll(fh: FileHandle, b: Uint8Array): Promise<void> {
  let o = 0;
  while (o < b.length) o += (await fh.write(b, o, b.length - o)).bytesWritten;
}

/** Writes one item to its temp file, fdatasyncs it (with `sync`) and renames it into place. */
async function writeFileAndRename(it: Item, sync: boolean): Promise<void> {
  const fh = await open(it.tmp, "wx", it.mode);
  try {
    await writeAll(fh, it.data);
    if (sync) await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(it.tmp, it.final);
}

/** fdatasyncs files (those still there), 8 at a time on libuv's thread pool. */
const syncFiles = (paths: string[]) => syncEach(paths, (fh) => fh.datasync());

/** fsyncs directories (those still there: a removed store has nothing to make durable), 8 at a time on libuv's thread pool. */
const syncDirs = (paths: string[]) => syncEach(paths, (fh) => fh.sync());

async function syncEach(paths: string[], sync: (fh: FileHandle) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      let fh: FileHandle;
      try {
        fh = await open(paths[next++], "r");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw e;
      }
      try {
        await sync(fh);
      } finally {
        await fh.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, paths.length) }, worker));
}

/**
 * relative(root, p), without resolving either (path.relative() does, per
 * path info written) when p is plainly below root: no "." or ".." parts, no
 * doubled or trailing slashes.
 */
export function relativeTo(root: string, p: string): string {
  if (p.length > root.length + 1 && p.startsWith(root) && p.charCodeAt(root.length) === 47 /* / */ && isPlainRoot(root)) {
    const rest = p.slice(root.length + 1);
    if (!/^\/|(^|\/)\.{1,2}(\/|$)|\/\/|\/$/.test(rest)) return rest;
  }
  return relative(root, p);
}

let lastPlainRoot = "";
/** An absolute, normalised directory other than "/" (then `${root}/${rel}` is join(root, rel) for a normalised rel). */
function isPlainRoot(root: string): boolean {
  if (root === lastPlainRoot) return true;
  const plain = isAbsolute(root) && root === normalize(root) && root !== "/" && !root.endsWith("/");
  if (plain) lastPlainRoot = root;
  return plain;
}

/** join(root, rel) for rel from relative(root, ...). */
function underRoot(root: string, rel: string): string {
  return isPlainRoot(root) ? `${root}/${rel}` : join(root, rel);
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {}); // failures reach callers through their own promises
  return { items: [], records: [], pack: null, keys: [], bytes: 0, done, resolve, reject };
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
