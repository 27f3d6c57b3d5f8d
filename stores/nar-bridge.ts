// The NAR bridge: NAR streams in and out of castore.
//
// ingestNar() reads a NAR once: file contents go to the BlobService as they
// stream by (blob writes overlap with reading), the NAR's sha256 and size are
// computed on the way, and only once the whole NAR has been read and matches
// the expected hash/size are the Directory messages written (bottom-up, so
// that every directory's children exist before it). On a mismatch or a
// broken stream nothing but unreferenced blobs has been written (a store's
// addToStore() checks a NAR of up to 16 MiB whole first, stores/nar-spool.ts,
// so that a refused one leaves none).
//
// renderNar() walks a root node and writes the NAR back with core/nar.ts's
// NarWriter: byte-identical to the NAR that was ingested.
import { basename, join } from "node:path";
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
import { createHash } from "../core/digest";
import type { BlobService, CastoreNode, DirectoryService, EncodedDirectory, PathInfo } from "./types";
import { encodeForPut } from "./directory-service";
import { NarEncoder, NarError, NarWriter, narStream, readNar, sortNames, type NarNode } from "../core/nar";
import { ChunkedBlobService } from "./blob-service";
import { MIN_CHUNK } from "./chunker";
import { initBlake3x4 } from "./blake3x4";
import { Hash, createHasher } from "../core/hash";
import { directoryEntries, directoryFromEntries, directorySize, showName, toHex } from "../core/castore";
import { makeFixedOutputPath } from "../core/store-path";
import type { BlobHashes } from "./blob-hasher";
import { Ev, TreeReader, treeReaderAvailable, type ReaderSplit } from "./tree-reader";
import { settleAll } from "./settle";

/** Blob writes in flight: remembers the first failure; settle() waits for all and rethrows it. */
class PendingWrites {
  private readonly pending = new Set<Promise<unknown>>();
  private failure: unknown = null;
  track(p: Promise<unknown>): void {
    if (this.pending.has(p)) return;
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      (e) => (this.failure ??= e),
    );
  }
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending);
    this.throwIfFailed();
  }
}

export interface CastoreServices {
  blobs: BlobService;
  directories: DirectoryService;
}

export class NarMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NarMismatchError";
  }
}

export interface IngestResult {
  /** The root node, with an empty name (the caller names it). */
  node: CastoreNode;
  narHash: Hash;
  narSize: number;
}

type Pending =
  | { type: "file"; executable: boolean; size: number; digest: Uint8Array | Promise<Uint8Array> }
  | { type: "symlink"; target: string }
  | PendingDirectory;
/** `encoded`: its message, once every entry's digest is known (made during a tree walk where possible). */
type PendingDirectory = { type: "directory"; entries: Map<string, Pending>; encoded?: EncodedDirectory };

/** A castore node for a pending one whose digests are known. */
function nodeOf(name: Uint8Array, p: Pending): CastoreNode {
  if (p.type === "file") return { type: "file", name, digest: p.digest as Uint8Array, size: BigInt(p.size), executable: p.executable };
  if (p.type === "symlink") return { type: "symlink", name, target: enc.encode(p.target) };
  return { type: "directory", name, digest: p.encoded!.digest, size: directorySize(p.encoded!.dir) };
}

/**
 * Validates, encodes and hashes a pending directory's message (not stored
 * yet); undefined while a file's digest or a subdirectory's message is not
 * known.
 */
function encodePending(p: PendingDirectory): EncodedDirectory | undefined {
  for (const c of p.entries.values()) if (c.type === "file" ? !(c.digest instanceof Uint8Array) : c.type === "directory" && !c.encoded) return undefined;
  return encodeForPut(directoryFromEntries(Array.from(p.entries, ([n, c]) => nodeOf(enc.encode(n), c))));
}

/** Files up to this size are collected in memory and stored with one put(). */
const BUFFER_FILES_UP_TO = 16 * 1024 * 1024;
/**
 * Blob puts allowed in flight while the NAR is still being read. A local
 * store has already written their bytes to temp files; what is pending is
 * the group commit that makes them durable, so reading runs ahead.
 */
const MAX_IN_FLIGHT = 16384;

const enc = new TextEncoder();
const dec = new TextDecoder();

async function collect(contents: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const buf = new Uint8Array(size);
  let o = 0;
  for await (const c of contents) {
    buf.set(c, o);
    o += c.length;
  }
  return buf;
}

/** Ingests a NAR stream into castore; checks `expected` hash and size when given. */
export async function ingestNar(
  services: CastoreServices,
  source: AsyncIterable<Uint8Array>,
  expected: { narHash?: string; narSize?: number } = {},
): Promise<IngestResult> {
  const hasher = createHasher("sha256");
  let narSize = 0;
  const hashed = (async function* () {
    for await (const c of source) {
      hasher.update(c);
      narSize += c.length;
      yield c;
    }
  })();

  // blob puts still running; the reader waits when there are too many
  let inFlight = 0;
  let wakeReader: (() => void) | null = null;
  const all: Promise<unknown>[] = [];
  const track = (p: Promise<Uint8Array>): Promise<Uint8Array> => {
    inFlight++;
    const settle = () => {
      inFlight--;
      const w = wakeReader;
      wakeReader = null;
      w?.();
    };
    p.then(settle, settle);
    all.push(p);
    p.catch(() => {}); // observed below, after the NAR is read
    return p;
  };

  let root: Pending | undefined;
  const open: Map<string, Pending>[] = []; // the directories being read, innermost last
  const place = (path: string[], node: Pending) => {
    if (open.length === 0) root = node;
    else open[open.length - 1].set(path[path.length - 1], node);
  };

  try {
    await readNar(hashed, {
      directory(path) {
        const entries = new Map<string, Pending>();
        place(path, { type: "directory", entries });
        open.push(entries);
      },
      endDirectory() {
        open.pop();
      },
      async file(path, executable, size, contents) {
        while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (wakeReader = r));
        // a local store queues bytes for its writer threads: bounded there
        if (services.blobs instanceof ChunkedBlobService) await services.blobs.waitForRoom();
        let digest: Promise<Uint8Array>;
        if (size <= BUFFER_FILES_UP_TO) {
          digest = track(services.blobs.put(await collect(contents, size)));
        } else {
          let drained!: () => void;
          const done = new Promise<void>((r) => (drained = r));
          const stream = (async function* () {
            for await (const c of contents) yield c;
            drained();
          })();
          digest = track(services.blobs.put(stream));
          await Promise.race([done, digest]);
        }
        place(path, { type: "file", executable, size, digest });
      },
      symlink(path, target) {
        place(path, { type: "symlink", target });
      },
    });
  } catch (e) {
    // a failed blob write explains a broken read better than the read error
    await settleAll(all);
    throw e;
  }
  const narHash = hasher.digest();
  await settleAll(all);
  if (expected.narHash !== undefined) {
    const want = Hash.parse(expected.narHash);
    if (!want.equals(narHash))
      throw new NarMismatchError(`NAR hash mismatch: expected ${want.toString()}, got ${narHash.toString()}`);
  }
  if (expected.narSize !== undefined && expected.narSize !== narSize)
    throw new NarMismatchError(`NAR size mismatch: expected ${expected.narSize} bytes, got ${narSize}`);
  const node = await finalise(services.directories, root!);
  return { node, narHash, narSize };
}

/**
 * Ingests a NAR already parsed in memory (core/nar.ts narTreeOfBuffer(),
 * checked by the caller): each file's blob is hashed and chunked from its
 * bytes at once (a local store copies them into its pack before this
 * returns), without another pass over the NAR or its hash. Resolves once
 * every blob and directory is durable.
 */
export async function ingestNarTree(services: CastoreServices, root: NarNode): Promise<CastoreNode> {
  const { node, durable } = await ingestNarTreeDeferred(services, root);
  await settleAll(durable);
  return node;
}

/**
 * ingestNarTree(), but for a tree without directories the blob writes are
 * returned (`durable`) instead of awaited: the caller can then register the
 * path in the same commit as its blob (see PathInfoService.putAfter()).
 */
export async function ingestNarTreeDeferred(services: CastoreServices, root: NarNode, rootHashes?: BlobHashes): Promise<{ node: CastoreNode; durable: Promise<unknown>[] }> {
  await initBlake3x4();
  const fast = services.blobs instanceof ChunkedBlobService && services.blobs.consumesSynchronously ? services.blobs : null;
  const writes: Promise<unknown>[] = [];
  const file = (n: Extract<NarNode, { type: "regular" }>): Pending => {
    let digest: Uint8Array | Promise<Uint8Array>;
    if (fast) {
      // `rootHashes`: a root file's hashes, computed off this thread (stores/blob-hasher.ts)
      const h = n === root ? rootHashes : undefined;
      const r = h ? fast.putSync(n.contents, h.cuts, h.whole, h.digests) : fast.putSync(n.contents);
      if (r.durable) writes.push(r.durable);
      digest = r.digest;
    } else {
      const p = services.blobs.put(n.contents);
      writes.push(p);
      digest = p;
    }
    return { type: "file", executable: n.executable, size: n.contents.length, digest };
  };
  const leaf = (n: Exclude<NarNode, { type: "directory" }>): Pending => (n.type === "symlink" ? n : file(n));
  // a work list, not recursion (trees may be deeper than the call stack); a
  // directory is encoded after its subdirectories (its second visit)
  let tree: Pending;
  if (root.type !== "directory") tree = leaf(root);
  else {
    const top: PendingDirectory = { type: "directory", entries: new Map() };
    const todo: [Extract<NarNode, { type: "directory" }>, PendingDirectory, boolean][] = [[root, top, false]];
    for (let t = todo.pop(); t; t = todo.pop()) {
      const [n, dir, expanded] = t;
      if (expanded) {
        dir.encoded = encodePending(dir);
        continue;
      }
      todo.push([n, dir, true]);
      for (const [name, c] of n.entries) {
        if (c.type !== "directory") {
          dir.entries.set(name, leaf(c));
          continue;
        }
        const sub: PendingDirectory = { type: "directory", entries: new Map() };
        dir.entries.set(name, sub);
        todo.push([c, sub, false]);
      }
    }
    tree = top;
  }
  if (tree.type !== "directory" && (tree.type === "symlink" || tree.digest instanceof Uint8Array)) return { node: nodeOf(new Uint8Array(0), tree), durable: writes };
  await settleAll(writes);
  return { node: await finalise(services.directories, tree), durable: [] };
}

/**
 * Turns a pending tree into its root castore node (with an empty name),
 * writing its directories with one putAll() (children first): for a local
 * store, a few packs and one fsync per write batch, however deep the tree.
 * Directories a tree walk has encoded already are only written. A loop, not
 * recursion: trees may be deeper than the call stack.
 */
async function finalise(dirs: DirectoryService, root: Pending): Promise<CastoreNode> {
  const streamed: Promise<unknown>[] = []; // digests of streamed files still being computed
  const order: PendingDirectory[] = []; // every directory after its subdirectories
  const todo: [PendingDirectory, boolean][] = root.type === "directory" ? [[root, false]] : [];
  const fileDigest = (p: Pending) => {
    if (p.type === "file" && !(p.digest instanceof Uint8Array)) {
      const f = p;
      streamed.push((p.digest as Promise<Uint8Array>).then((x) => (f.digest = x)));
    }
  };
  fileDigest(root);
  while (todo.length > 0) {
    const [d, expanded] = todo.pop()!;
    if (expanded) {
      order.push(d);
      continue;
    }
    todo.push([d, true]);
    for (const c of d.entries.values()) {
      if (c.type === "directory") todo.push([c, false]);
      else fileDigest(c);
    }
  }
  await Promise.all(streamed);
  await initBlake3x4(); // encodeForPut()
  for (const p of order) p.encoded ??= encodePending(p)!;
  await dirs.putAll(order.map((p) => p.encoded!));
  return nodeOf(new Uint8Array(0), root);
}

/** Writes the NAR of a castore node into a NarWriter (not finishing it); a loop, not recursion (trees may be deeper than the call stack). */
export async function writeNode(services: CastoreServices, w: NarWriter, root: CastoreNode): Promise<void> {
  const open: { entries: CastoreNode[]; i: number }[] = [];
  let node: CastoreNode | null = root;
  for (;;) {
    if (node) {
      if (node.type === "symlink") await w.symlink(dec.decode(node.target));
      else if (node.type === "file") {
        const contents = await services.blobs.open(node.digest);
        if (!contents) throw new Error(`blob ${toHex(node.digest)} of file '${showName(node.name)}' is missing from the blob service`);
        await w.regular(node.executable, Number(node.size), contents);
      } else {
        const dir = await services.directories.get(node.digest);
        if (!dir) throw new Error(`directory ${toHex(node.digest)} ('${showName(node.name)}') is missing from the directory service`);
        await w.startDirectory();
        open.push({ entries: directoryEntries(dir), i: 0 });
      }
      node = null;
    }
    const top = open[open.length - 1];
    if (!top) return;
    if (top.i === top.entries.length) {
      await w.endDirectory();
      open.pop();
      continue;
    }
    node = top.entries[top.i++];
    await w.entry(dec.decode(node.name));
  }
}

/** The NAR of a castore node as a stream. */
export function renderNar(services: CastoreServices, node: CastoreNode): AsyncIterable<Uint8Array> {
  return narStream((w) => writeNode(services, w, node));
}

// ---------------------------------------------------------------- file system import

/** Files up to this size are read whole (and chunked in memory); larger ones are streamed. */
const READ_WHOLE_UP_TO = 64 * 1024 * 1024;
/** The walk yields to the event loop this often (files or bytes), so that group commits start. */
const YIELD_EVERY_FILES = 512;
const YIELD_EVERY_BYTES = 32 * 1024 * 1024;

/**
 * Reads a whole file, into `scratch` when given (a buffer reused for every
 * file: fresh memory costs a page fault per 4 KiB, more than the copy).
 */
function readWhole(path: string, size: number, scratch?: Scratch): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const buf = scratch ? scratch.get(size) : Buffer.allocUnsafe(size);
    let o = 0;
    while (o < size) {
      const n = readSync(fd, buf, o, size - o, null);
      if (n === 0) break;
      o += n;
    }
    if (o !== size) throw new NarError(`file '${path}' changed while being read`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

class Scratch {
  private buf = Buffer.allocUnsafe(1024 * 1024);
  get(size: number): Buffer {
    if (size > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(size, 2 * this.buf.length));
    return this.buf.subarray(0, size);
  }
}

async function* readFileChunks(path: string, size: number, onChunk: (c: Uint8Array) => void): AsyncIterable<Uint8Array> {
  const fd = openSync(path, "r");
  try {
    let left = size;
    while (left > 0) {
      const want = Math.min(left, 4 * 1024 * 1024);
      const buf = Buffer.allocUnsafe(want);
      const n = readSync(fd, buf, 0, want, null);
      if (n === 0) throw new NarError(`file '${path}' shrank while being read`);
      left -= n;
      const c = n === want ? buf : buf.subarray(0, n);
      onChunk(c);
      yield c;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Ingests a file system tree directly (no NAR stream): metadata and files
 * are read with synchronous calls, each file's blob is hashed and chunked
 * from one read, and the NAR hash and size are computed from the tree
 * (framing tokens plus contents) without building the NAR. Same result as
 * ingestNar(dumpPath(fsPath)).
 */
export async function ingestTree(
  services: CastoreServices,
  fsPath: string,
  opts: {
    readWholeUpTo?: number;
    /** false: walk and read on this thread even for a local store */
    readerThread?: boolean;
    /** which thread cuts and hashes whole files (tests; default adaptive) */
    readerSplit?: ReaderSplit;
  } = {},
): Promise<IngestResult> {
  const readWholeUpTo = opts.readWholeUpTo ?? READ_WHOLE_UP_TO;
  await initBlake3x4();
  const fast = services.blobs instanceof ChunkedBlobService ? services.blobs : null;
  if (fast?.consumesSynchronously && treeReaderAvailable() && (opts.readerThread ?? !isSmallTree(fsPath))) return ingestTreeThreaded(services, fast, fsPath, readWholeUpTo, opts.readerSplit);
  const narSha = createHash("sha256");
  const nar = new NarEncoder((c) => narSha.update(c), 256 * 1024);
  // the NAR hasher and putSync() are done with a file's bytes when they return: one buffer serves every file
  const scratch = fast?.consumesSynchronously ? new Scratch() : undefined;
  const writes = new PendingWrites();
  const track = (p: Promise<unknown>) => writes.track(p);
  let sinceYieldFiles = 0;
  let sinceYieldBytes = 0;

  const file = async (path: string, executable: boolean, size: number): Promise<Pending> => {
    nar.regular(executable, size);
    let digest: Uint8Array | Promise<Uint8Array>;
    if (size <= readWholeUpTo) {
      const data = size === 0 ? new Uint8Array(0) : readWhole(path, size, scratch);
      nar.contents(data);
      if (fast) {
        const r = fast.putSync(data);
        if (r.durable) track(r.durable);
        digest = r.digest;
      } else {
        const p = services.blobs.put(data);
        track(p);
        digest = p;
      }
    } else {
      let drained!: () => void;
      const done = new Promise<void>((r) => (drained = r));
      const stream = (async function* () {
        yield* readFileChunks(path, size, (c) => nar.contents(c));
        drained();
      })();
      const p = services.blobs.put(stream);
      track(p);
      await Promise.race([done, p]);
      digest = p;
    }
    nar.endFile(size);
    if (++sinceYieldFiles >= YIELD_EVERY_FILES || (sinceYieldBytes += size) >= YIELD_EVERY_BYTES) {
      sinceYieldFiles = sinceYieldBytes = 0;
      await new Promise<void>((r) => setImmediate(r));
      await fast?.waitForRoom();
      writes.throwIfFailed();
    }
    return { type: "file", executable, size, digest };
  };

  // the walk: a loop with a stack of open directories (trees may be deeper than the call stack)
  const leaf = async (path: string, st: Stats): Promise<Pending> => {
    if (st.isSymbolicLink()) {
      const target = readlinkSync(path);
      nar.symlink(target);
      return { type: "symlink", target };
    }
    if (st.isFile()) return file(path, (st.mode & 0o100) !== 0, st.size);
    throw new NarError(`file '${path}' has an unsupported type`);
  };
  const walk = async (top: string): Promise<Pending> => {
    const open: { path: string; names: string[]; i: number; dir: PendingDirectory }[] = [];
    let root: Pending | undefined;
    let path: string | null = top;
    let name = "";
    for (;;) {
      if (path !== null) {
        const st = lstatSync(path);
        const parent = open[open.length - 1];
        let node: Pending;
        if (st.isDirectory()) {
          nar.startDirectory();
          node = { type: "directory", entries: new Map() };
          open.push({ path, names: sortNames(readdirSync(path)), i: 0, dir: node });
        } else node = await leaf(path, st);
        if (parent) parent.dir.entries.set(name, node);
        else root = node;
        path = null;
      }
      const cur = open[open.length - 1];
      if (!cur) return root!;
      if (cur.i === cur.names.length) {
        nar.endDirectory();
        cur.dir.encoded = encodePending(cur.dir);
        open.pop();
        continue;
      }
      name = cur.names[cur.i++];
      nar.entry(name);
      path = join(cur.path, name);
    }
  };

  let root: Pending;
  try {
    root = await walk(fsPath);
  } finally {
    // a failed blob write explains a broken walk better than the walk's error
    await writes.settle();
  }
  nar.finish();
  const narHash = new Hash("sha256", new Uint8Array(narSha.digest()));
  const node = await finalise(services.directories, root);
  return { node, narHash, narSize: nar.size };
}

/**
 * Imports a file system path like `nix-store --add`: the path's NAR goes into
 * castore, and the store path is the recursive-sha256 fixed-output path of
 * its NAR hash. Returns the PathInfo (not yet registered anywhere).
 */
export async function ingestPath(
  services: CastoreServices,
  fsPath: string,
  storeDir: string,
  name = basename(fsPath),
  opts: Parameters<typeof ingestTree>[2] = {},
): Promise<PathInfo> {
  const r = await ingestTree(services, fsPath, opts);
  const sp = makeFixedOutputPath(name, r.narHash, true, [], storeDir);
  return {
    storePath: sp.toAbsolute(storeDir),
    node: { ...r.node, name: enc.encode(sp.toString()) },
    narHash: r.narHash.toString(),
    narSize: r.narSize,
    references: [],
    signatures: [],
    ca: `fixed:r:${r.narHash.toString()}`,
  };
}

/**
 * Whether a tree has at most `maxEntries` entries and `maxBytes` bytes of
 * files (stops looking beyond): starting the reader thread costs ~50-100 ms,
 * more than ingesting such a tree on this thread.
 */
function isSmallTree(path: string, maxEntries = 256, maxBytes = 8 * 1024 * 1024): boolean {
  const todo = [path];
  let entries = 0;
  let bytes = 0;
  while (todo.length > 0) {
    const p = todo.pop()!;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return true; // the walk reports it
    }
    if (++entries > maxEntries || (bytes += st.isFile() ? st.size : 0) > maxBytes) return false;
    if (st.isDirectory()) for (const n of readdirSync(p)) todo.push(join(p, n));
  }
  return true;
}

/** A stream fed piece by piece (a large file's contents arriving from the tree reader). */
class PieceQueue {
  private items: Uint8Array[] = [];
  private ended = false;
  private failure: unknown = null;
  private wakeReader: (() => void) | null = null;
  private wakeWriter: (() => void) | null = null;

  push(c: Uint8Array): void {
    this.items.push(c);
    this.wakeUp();
  }
  end(): void {
    this.ended = true;
    this.wakeUp();
  }
  fail(e: unknown): void {
    this.failure = e;
    this.wakeUp();
  }
  private wakeUp(): void {
    const w = this.wakeReader;
    this.wakeReader = null;
    w?.();
  }
  /** Null, or a promise that resolves once few pieces are queued. */
  roomFor(): Promise<void> | null {
    return this.items.length <= 2 ? null : new Promise<void>((r) => (this.wakeWriter = r));
  }
  async *iterate(): AsyncIterable<Uint8Array> {
    for (;;) {
      const c = this.items.shift();
      if (this.items.length <= 2) {
        const w = this.wakeWriter;
        this.wakeWriter = null;
        w?.();
      }
      if (c) yield c;
      else if (this.failure) throw this.failure;
      else if (this.ended) return;
      else await new Promise<void>((r) => (this.wakeReader = r));
    }
  }
}

/**
 * ingestTree() for blob services that are done with a buffer when putSync()
 * returns (a local store): the walk, the reads and the NAR hash run on a
 * worker thread (stores/tree-reader.ts); this thread chunks, hashes and
 * stores the contents straight from the reader's shared slabs.
 */
async function ingestTreeThreaded(services: CastoreServices, fast: ChunkedBlobService, fsPath: string, readWholeUpTo: number, split?: ReaderSplit): Promise<IngestResult> {
  const writes = new PendingWrites();
  const track = (p: Promise<unknown>) => writes.track(p);
  const reader = new TreeReader(fsPath, readWholeUpTo, split);
  let root: Pending | undefined;
  const stack: PendingDirectory[] = [];
  let name = "";
  const place = (node: Pending) => {
    if (stack.length === 0) root = node;
    else stack[stack.length - 1].entries.set(name, node);
  };
  let big: PieceQueue | null = null;
  let done: { narHash: Uint8Array; narSize: number } | undefined;
  try {
    for await (const m of reader.messages()) {
      const slab = m.slab >= 0 ? reader.slab(m.slab) : new Uint8Array(0);
      const ev = m.events;
      for (let i = 0; i < ev.length; ) {
        switch (ev[i++]) {
          case Ev.Dir: {
            const dir: PendingDirectory = { type: "directory", entries: new Map() };
            place(dir);
            stack.push(dir);
            break;
          }
          case Ev.Name:
            name = ev[i++] as string;
            break;
          case Ev.DirEnd: {
            // its message now, while the reader still works (written at the end)
            const dir = stack.pop()!;
            dir.encoded = encodePending(dir);
            break;
          }
          case Ev.File: {
            const executable = ev[i++] === 1;
            const size = ev[i++] as number;
            const off = ev[i++] as number;
            const d = ev[i++] as number;
            const n = ev[i++] as number;
            const cuts = n > 0 ? (ev.slice(i, (i += n)) as number[]) : size > MIN_CHUNK ? reader.cuts(m.slab, off, size) : undefined;
            const whole = d < 0 ? undefined : m.digests!.subarray(32 * d, 32 * d + 32);
            const r = fast.putSync(slab.subarray(off, off + size), cuts, whole);
            if (r.durable) track(r.durable);
            place({ type: "file", executable, size, digest: r.digest });
            break;
          }
          case Ev.BigFile: {
            const executable = ev[i++] === 1;
            const size = ev[i++] as number;
            big = new PieceQueue();
            const p = fast.put(big.iterate());
            track(p);
            place({ type: "file", executable, size, digest: p });
            break;
          }
          case Ev.Piece: {
            const len = ev[i++] as number;
            const off = ev[i++] as number;
            big!.push(slab.slice(off, off + len)); // a copy: the chunker keeps views of what it is given
            break;
          }
          case Ev.FileEnd:
            big!.end();
            big = null;
            break;
          case Ev.Symlink:
            place({ type: "symlink", target: ev[i++] as string });
            break;
          default:
            throw new Error(`internal error: tree reader event ${ev[i - 1]}`);
        }
      }
      if (m.release) reader.release(m.slab);
      if (m.done) done = m.done;
      // let group commits start and finish, and bound what is queued
      await new Promise<void>((r) => setImmediate(r));
      await big?.roomFor();
      await fast.waitForRoom();
      writes.throwIfFailed();
    }
  } catch (e) {
    big?.fail(e);
    throw e;
  } finally {
    await reader.close();
    // a failed blob write explains a broken walk better than the walk's error
    await writes.settle();
  }
  const node = await finalise(services.directories, root!);
  return { node, narHash: new Hash("sha256", done!.narHash), narSize: done!.narSize };
}
