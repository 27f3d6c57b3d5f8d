// The journal of replaced and removed files (path infos): one file per group
// commit, written to a temp file, fdatasynced and renamed into
// <root>/journal/, before the batch's files are written (without fsync) and
// renamed into place. So a batch of path infos costs one fdatasync instead
// of one per file, and what a writer was told is durable survives a crash
// in the journal until its files are durable too. A checkpoint (some time
// later, or at close) fdatasyncs those files and removes the journal file.
//
// Recovery: whoever opens the store replays the journal files of writers
// that are gone (another boot, or a dead pid), oldest first, and makes the
// result durable (files it leaves as they are too: a killed writer's are
// in the page cache, maybe not on disk) before removing them. For each file only the last record
// counts, and it is applied only when the file on disk is missing, torn (a
// prefix of a record of it, which is what a crash leaves of a file written
// without fsync) or an earlier record's content: a file that a live writer
// changed since is left alone.
//
// A journal file: "TVIXJNL1", then records: u32 path length, the path
// (relative to the store root), u8 kind (1 write, 0 remove), u32 mode, u32
// data length, the data. Names: <ms since epoch, 15 digits>-<boot id,
// 8 hex>-<pid>-<writer tag>-<counter>.log, so that sorting them is the
// order of writing.
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

const MAGIC = new TextEncoder().encode("TVIXJNL1");

export interface JournalRecord {
  /** Relative to the store root. */
  path: string;
  /** null: removed. */
  data: Uint8Array | null;
  mode: number;
}

export function encodeJournal(records: JournalRecord[]): Uint8Array {
  const enc = new TextEncoder();
  const paths = records.map((r) => enc.encode(r.path));
  let size = MAGIC.length;
  for (let i = 0; i < records.length; i++) size += 13 + paths[i].length + (records[i].data?.length ?? 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  let o = MAGIC.length;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    dv.setUint32(o, paths[i].length, true);
    out.set(paths[i], o + 4);
    o += 4 + paths[i].length;
    dv.setUint8(o, r.data ? 1 : 0);
    dv.setUint32(o + 1, r.mode, true);
    dv.setUint32(o + 5, r.data?.length ?? 0, true);
    o += 9;
    if (r.data) out.set(r.data, o);
    o += r.data?.length ?? 0;
  }
  return out;
}

export function decodeJournal(bytes: Uint8Array, what: string): JournalRecord[] {
  const bad = () => new Error(`journal file '${what}' is corrupt`);
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) throw bad();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const dec = new TextDecoder();
  const out: JournalRecord[] = [];
  for (let o = MAGIC.length; o < bytes.length; ) {
    if (o + 4 > bytes.length) throw bad();
    const pl = dv.getUint32(o, true);
    if (o + 4 + pl + 9 > bytes.length) throw bad();
    const path = dec.decode(bytes.subarray(o + 4, o + 4 + pl));
    o += 4 + pl;
    const kind = dv.getUint8(o);
    const mode = dv.getUint32(o + 1, true);
    const len = dv.getUint32(o + 5, true);
    o += 9;
    if (kind > 1 || o + len > bytes.length || path.split("/").includes("..") || path.startsWith("/")) throw bad();
    out.push({ path, data: kind === 1 ? bytes.slice(o, o + len) : null, mode });
    o += len;
  }
  return out;
}

let bootIdCache: string | null = null;
/** The first 8 hex digits of this boot's id (a journal of another boot is a dead writer's). */
export function bootId(): string {
  if (bootIdCache === null) {
    try {
      bootIdCache = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/-/g, "").slice(0, 8);
    } catch {
      bootIdCache = "00000000";
    }
  }
  return bootIdCache;
}

let counter = 0;
export function journalName(tag: string): string {
  return `${String(Date.now()).padStart(15, "0")}-${bootId()}-${process.pid}-${tag}-${++counter}.log`;
}

/** Whether the journal file `name` belongs to a writer that is gone. */
function writerGone(name: string): boolean {
  const m = /^\d{15}-([0-9a-f]{8})-(\d+)-/.exec(name);
  if (!m) return false;
  if (m[1] !== bootId()) return true;
  const pid = Number(m[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "EPERM";
  }
}

/** A file's bytes, or null when it does not exist. */
export function readOrNull(p: string): Buffer | null {
  try {
    return readFileSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
const startsWith = (whole: Uint8Array, part: Uint8Array) => part.length <= whole.length && Buffer.compare(whole.subarray(0, part.length), part) === 0;

/** fsync(2) of a file or directory. */
function syncPath(p: string): void {
  const fd = openSync(p, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replays the journal files of gone writers under `root` (see above) and
 * removes them once what they say is durable. `tmpDir`: where files are
 * written before their rename. Returns the number of journal files replayed.
 */
export function recoverJournal(root: string, tmpDir: string): number {
  const dir = join(root, "journal");
  if (!existsSync(dir)) return 0;
  const names = readdirSync(dir)
    .filter((n) => n.endsWith(".log") && writerGone(n))
    .sort();
  if (names.length === 0) return 0;
  const byPath = new Map<string, JournalRecord[]>();
  for (const n of names) {
    for (const r of decodeJournal(readFileSync(join(dir, n)), join(dir, n))) {
      const list = byPath.get(r.path);
      if (list) list.push(r);
      else byPath.set(r.path, [r]);
    }
  }
  const dirs = new Set<string>();
  let k = 0;
  for (const [rel, recs] of byPath) {
    const final = join(root, rel);
    const cur = readOrNull(final);
    const last = recs[recs.length - 1];
    // ours to fix: missing, torn, or what an earlier record wrote
    const stale = (c: Uint8Array) => recs.some((r) => r.data && startsWith(r.data, c));
    // what the gone writer left in place may not be on disk yet: durable before its journal goes
    dirs.add(dirname(final));
    if (last.data) {
      if (cur && equal(cur, last.data)) {
        syncPath(final);
        continue;
      }
      if (cur && !stale(cur)) continue;
      const tmp = join(tmpDir, `${process.pid}-journal-${++k}`);
      const fd = openSync(tmp, "w", last.mode);
      try {
        for (let o = 0; o < last.data.length; ) o += writeSync(fd, last.data, o, last.data.length - o);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, final);
    } else if (cur && stale(cur)) {
      unlinkSync(final);
    }
  }
  for (const d of dirs) syncPath(d);
  for (const n of names) {
    try {
      unlinkSync(join(dir, n));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // another opener replayed it too
    }
  }
  syncPath(dir);
  return names.length;
}
