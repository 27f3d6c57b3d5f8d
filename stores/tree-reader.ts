// Reads a file system tree for ingestTree() on a worker thread, so that
// reading, the NAR sha256 and cutting chunks run beside the main thread's
// BLAKE3 and packing (an import is otherwise bound by one core).
//
// The worker walks the tree like `nix-store --add` (lstat, names in byte
// order), reads each file into one of a few slabs, feeds the NAR framing and
// contents to sha256, cuts files into chunks, and posts the tree as a flat
// list of events; the main thread hashes file contents straight from the
// slab and hands the slab back once it has consumed (hashed, copied) them.
// Files larger than a slab come as several pieces. Backpressure: the worker
// blocks (Atomics.wait) while every slab is in use.
//
// The slabs live in a shared WebAssembly.Memory with the WASM kernels of
// stores/hash-kernels.ts: each thread has its own scratch region in it, the
// worker cuts chunks with the kernels' cuts() and, when the main thread is
// behind, computes the BLAKE3 of multi-chunk files with digest(); when the
// main thread has caught up, it leaves cutting to it. The main thread hashes
// chunks in place (stores/blake3x4.ts: no copy). The worker is
// plain JS evaluated from a string, handed the compiled module and the
// memory in workerData, so that it works from sources, the bundle and the
// single executable alike without a module file of its own (a TypeScript
// worker under tsx takes ~350 ms to start, an eval worker ~70 ms).
import { Worker } from "node:worker_threads";
import { NarError } from "../core/nar";
import { MIN_CHUNK } from "./chunker";
import { Region, instantiateKernels, kernelMemory, kernelModule, type Kernels } from "./hash-kernels";
import { Blake3x4, registerMemory } from "./blake3x4";

/** Event codes, followed by their operands in the flat event list. */
export const Ev = {
  /** a directory starts (its entries follow, then DirEnd) */
  Dir: 0,
  /** name: the next node is this entry of the current directory */
  Name: 1,
  DirEnd: 2,
  /** executable (0/1), size, slab offset, digest index (-1: none; else its BLAKE3 is message.digests[32 i, 32 i + 32)), n, then n chunk lengths (n = 0: not cut; TreeReader.cuts() cuts it): a whole file in this message's slab */
  File: 3,
  /** executable, size: a file whose contents follow as Piece events, then FileEnd */
  BigFile: 4,
  /** target */
  Symlink: 5,
  /** length, slab offset */
  Piece: 6,
  FileEnd: 7,
} as const;

export interface ReaderMessage {
  events: (number | string)[];
  /** The slab the File/Piece offsets refer to. */
  slab: number;
  /** The worker is done with this slab: hand it back after the events are consumed. */
  release: boolean;
  /** BLAKE3 digests computed by the worker (File events refer to them). */
  digests: Uint8Array | null;
  /** Last message: the NAR's sha256 and size. */
  done?: { narHash: Uint8Array; narSize: number };
  error?: string;
}

const SLABS = 4;
const SLAB_SIZE = 16 * 1024 * 1024;
/** A message is posted at least every this many events (so the main thread starts early). */
const EVENTS_PER_MESSAGE = 2048;
/**
 * The worker computes a multi-chunk file's whole BLAKE3 when at most this
 * many slabs are free (the main thread, which hashes every chunk, is behind);
 * else the main thread does. This balances the two threads whichever one the
 * machine's other load slows down: measured, either can be the bottleneck.
 */
const HELP_WHEN_FREE_SLABS = 1;
/**
 * When every slab but the one being filled is free (the main thread has
 * consumed everything: the worker is the bottleneck), the worker leaves
 * cutting a file to the main thread (TreeReader.cuts(): the same WASM
 * search, in place).
 */
const LEAVE_CUTS_WHEN_FREE_SLABS = SLABS - 1;
/** Memory layout: the main thread's region, the worker's, then the slabs. */
const WORKER_REGION = Region.size;
const SLAB_BASE = 2 * Region.size;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { createHash } = require("node:crypto");
const { root, slabSize, maxWhole, eventsPerMessage, minChunk, region, cutsOff, resultOff, slabBase, helpWhenFree, leaveCutsWhenFree } = workerData;
const kernels = new WebAssembly.Instance(workerData.module, { e: { m: workerData.memory } }).exports;
const mem = new Uint8Array(workerData.memory.buffer);
const slabs = Array.from({ length: workerData.slabs }, (_, i) => mem.subarray(slabBase + i * slabSize, slabBase + (i + 1) * slabSize));
const state = new Int32Array(workerData.state); // [0]: free slabs; [1 + i]: slab i in use
const enc = new TextEncoder();

// NAR sha256 and size; framing and small contents are gathered first
const h = createHash("sha256");
const stage = Buffer.allocUnsafe(256 * 1024);
let staged = 0;
let narSize = 0;
function add(b) {
  narSize += b.length;
  if (staged + b.length > stage.length) {
    if (staged) h.update(stage.subarray(0, staged));
    staged = 0;
    if (b.length > stage.length / 4) return void h.update(b);
  }
  stage.set(b, staged);
  staged += b.length;
}
const u64b = Buffer.alloc(8);
function u64(n) {
  u64b.writeUInt32LE(n >>> 0, 0);
  u64b.writeUInt32LE(Math.floor(n / 0x100000000), 4);
  add(u64b);
}
const ZEROS = new Uint8Array(8);
function pad(n) {
  if (n % 8) add(ZEROS.subarray(0, 8 - (n % 8)));
}
function bytes(b) {
  u64(b.length);
  add(b);
  pad(b.length);
}
function tok(s) {
  const b = enc.encode(s);
  const out = new Uint8Array(8 + b.length + ((8 - (b.length % 8)) % 8));
  new DataView(out.buffer).setUint32(0, b.length, true);
  out.set(b, 8);
  return out;
}
const cat = (...t) => new Uint8Array(Buffer.concat(t.map(tok)));
const REGULAR = cat("(", "type", "regular", "contents");
const EXECUTABLE = cat("(", "type", "regular", "executable", "", "contents");
const SYMLINK = cat("(", "type", "symlink", "target");
const DIRECTORY = cat("(", "type", "directory");
const ENTRY = cat("entry", "(", "name");
const NODE = tok("node");
const CLOSE = tok(")");

function sortNames(names) {
  if (names.every((n) => !/[\\ud800-\\uffff]/.test(n))) return names.sort();
  return names.map((n) => [n, Buffer.from(n, "utf8")]).sort((a, b) => Buffer.compare(a[1], b[1])).map((e) => e[0]);
}

let slab = -1;
let used = 0;
let events = [];
let digests = Buffer.allocUnsafe(32 * 64);
let ndigests = 0;
function claim() {
  for (;;) {
    while (Atomics.load(state, 0) === 0) Atomics.wait(state, 0, 0);
    for (let i = 0; i < slabs.length; i++)
      if (Atomics.compareExchange(state, 1 + i, 0, 1) === 0) {
        Atomics.sub(state, 0, 1);
        return i;
      }
  }
}
function post(release) {
  parentPort.postMessage({ events, slab, release, digests: ndigests ? new Uint8Array(digests.subarray(0, 32 * ndigests)) : null });
  events = [];
  ndigests = 0;
}
/** The BLAKE3 of mem[at, at + len) into the next digest slot; returns its index. */
function digest(at, len) {
  if (32 * (ndigests + 1) > digests.length) {
    const d = Buffer.allocUnsafe(2 * digests.length);
    d.set(digests);
    digests = d;
  }
  kernels.digest(at, len, region, region + resultOff);
  digests.set(mem.subarray(region + resultOff, region + resultOff + 32), 32 * ndigests);
  return ndigests++;
}
/** Room for n bytes in the current slab (n <= slabSize). */
function room(n) {
  if (slab >= 0 && used + n <= slabSize) return;
  if (slab >= 0) post(true);
  slab = claim();
  used = 0;
}
function event(...e) {
  for (const x of e) events.push(x);
  if (events.length >= eventsPerMessage) post(false);
}

function readInto(fd, path, len) {
  room(len);
  const buf = slabs[slab];
  let o = 0;
  while (o < len) {
    const n = fs.readSync(fd, buf, used + o, len - o, null);
    if (n === 0) throw new Error("file '" + path + "' changed while being read");
    o += n;
  }
  const off = used;
  used += len;
  add(buf.subarray(off, off + len));
  return off;
}

function file(path, exec, size) {
  add(exec ? EXECUTABLE : REGULAR);
  u64(size);
  const fd = fs.openSync(path, "r");
  try {
    if (size <= maxWhole) {
      const off = size === 0 ? 0 : readInto(fd, path, size);
      const free = Atomics.load(state, 0);
      if (size <= minChunk || free >= leaveCutsWhenFree) event(${Ev.File}, exec ? 1 : 0, size, off, -1, 0);
      else {
        // chunker.ts's cuts, by the WASM kernel
        const at = slabBase + slab * slabSize + off;
        const n = kernels.cuts(at, size, region);
        const cuts = new Uint32Array(workerData.memory.buffer, region + cutsOff, n);
        const d = n > 1 && free <= helpWhenFree ? digest(at, size) : -1;
        event(${Ev.File}, exec ? 1 : 0, size, off, d, n, ...cuts);
      }
    } else {
      event(${Ev.BigFile}, exec ? 1 : 0, size);
      for (let left = size; left > 0; ) {
        const len = Math.min(left, slabSize / 4);
        const off = readInto(fd, path, len);
        event(${Ev.Piece}, len, off);
        left -= len;
      }
      event(${Ev.FileEnd});
    }
  } finally {
    fs.closeSync(fd);
  }
  pad(size);
  add(CLOSE);
}

function walk(path) {
  const st = fs.lstatSync(path);
  if (st.isSymbolicLink()) {
    const target = fs.readlinkSync(path);
    if (target === "" || target.includes("\\0")) throw new Error("invalid symlink target '" + target + "'");
    add(SYMLINK);
    bytes(enc.encode(target));
    add(CLOSE);
    event(${Ev.Symlink}, target);
  } else if (st.isFile()) file(path, (st.mode & 0o100) !== 0, st.size);
  else if (st.isDirectory()) {
    add(DIRECTORY);
    event(${Ev.Dir});
    for (const name of sortNames(fs.readdirSync(path))) {
      add(ENTRY);
      bytes(enc.encode(name));
      add(NODE);
      event(${Ev.Name}, name);
      walk(path + "/" + name);
      add(CLOSE);
    }
    add(CLOSE);
    event(${Ev.DirEnd});
  } else throw new Error("file '" + path + "' has an unsupported type");
}

try {
  add(tok("nix-archive-1"));
  walk(root);
  if (staged) h.update(stage.subarray(0, staged));
  post(slab >= 0);
  parentPort.postMessage({ events: [], slab: -1, release: false, digests: null, done: { narHash: new Uint8Array(h.digest()), narSize } });
} catch (e) {
  parentPort.postMessage({ events: [], slab, release: false, digests: null, error: e && e.message ? e.message : String(e) });
}
`;

export type ReaderSplit = "adaptive" | "worker" | "main";

/** Whether the tree reader can run here (it needs the WASM SIMD kernels). */
export function treeReaderAvailable(): boolean {
  return kernelModule() !== null;
}

/** The worker reading one tree; messages() yields its posts in order. */
export class TreeReader {
  private worker: Worker;
  private mem: Uint8Array;
  private kernels: Kernels;
  private state: Int32Array;
  private queue: ReaderMessage[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private unregister: () => void;

  /**
   * `split`: who cuts and computes whole-file digests: adaptive (default),
   * or always the worker, or always the main thread (for tests).
   */
  constructor(root: string, readWholeUpTo: number, split: ReaderSplit = "adaptive") {
    const module = kernelModule();
    if (!module) throw new Error("internal error: the tree reader needs WASM SIMD (treeReaderAvailable())");
    const memory = kernelMemory(SLAB_BASE + SLABS * SLAB_SIZE);
    const kernels = instantiateKernels(module, memory, [0, WORKER_REGION]);
    this.mem = kernels.mem;
    this.kernels = kernels;
    // this thread's blake3() hashes views of the slabs in place
    this.unregister = registerMemory(new Blake3x4(kernels, 0));
    const stateBuf = new SharedArrayBuffer(4 * (1 + SLABS));
    this.state = new Int32Array(stateBuf);
    this.state[0] = SLABS;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        root,
        module,
        memory,
        slabs: SLABS,
        slabBase: SLAB_BASE,
        state: stateBuf,
        slabSize: SLAB_SIZE,
        maxWhole: Math.min(readWholeUpTo, SLAB_SIZE),
        eventsPerMessage: EVENTS_PER_MESSAGE,
        minChunk: MIN_CHUNK,
        region: WORKER_REGION,
        cutsOff: Region.cuts,
        resultOff: Region.result,
        helpWhenFree: split === "worker" ? SLABS : split === "main" ? -1 : HELP_WHEN_FREE_SLABS,
        leaveCutsWhenFree: split === "worker" ? SLABS + 1 : split === "main" ? 0 : LEAVE_CUTS_WHEN_FREE_SLABS,
      },
    });
    this.worker.on("message", (m: ReaderMessage) => this.push(m));
    this.worker.on("error", (e) => {
      this.failure = e;
      this.push(null);
    });
    this.worker.on("exit", (code) => {
      if (code !== 0) this.failure ??= new Error(`tree reader thread exited with code ${code}`);
      this.push(null);
    });
  }

  private push(m: ReaderMessage | null): void {
    if (m) this.queue.push(m);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** The worker's messages, ending with the one that has `done` (or `error`, which is thrown). */
  async *messages(): AsyncGenerator<ReaderMessage> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        if (m.error !== undefined) throw new NarError(m.error);
        yield m;
        if (m.done) return;
        continue;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** A slab's bytes (valid until release()). */
  slab(i: number): Uint8Array {
    return this.mem.subarray(SLAB_BASE + i * SLAB_SIZE, SLAB_BASE + (i + 1) * SLAB_SIZE);
  }

  /** Chunk lengths of a file in a slab, cut on this thread (the worker left it uncut). */
  cuts(slab: number, off: number, len: number): Uint32Array {
    return this.kernels.cuts(SLAB_BASE + slab * SLAB_SIZE + off, len, 0);
  }

  /** Hands a slab back to the worker. */
  release(i: number): void {
    Atomics.store(this.state, 1 + i, 0);
    Atomics.add(this.state, 0, 1);
    Atomics.notify(this.state, 0);
  }

  /** Stops the worker (at the end, or when the import fails). */
  async close(): Promise<void> {
    // a worker blocked in Atomics.wait for a slab wakes up to be terminated
    Atomics.add(this.state, 0, SLABS);
    Atomics.notify(this.state, 0);
    await this.worker.terminate();
    this.unregister();
  }
}
