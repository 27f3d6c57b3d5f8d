// The tree reader's thread (see tree-reader.ts): walks a tree with the one
// tree walker (core/nar.ts dumpTree over the host), computes its NAR hash
// with the one NAR encoder, reads each file into a slab shared with the
// importing thread, cuts it into chunks with the WASM kernel, and posts the
// tree as a flat list of events. This module is the thread's entry point:
// build.mjs bundles it into the program as a string (tree-reader.ts bundles
// it when run from the sources).
import { parentPort, workerData } from "node:worker_threads";
import { closeSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";
import { NarEncoder, TreeError, dumpTree, type TreeAccessor } from "../core/nar";
import { hostTree } from "./host-tree";
import { Ev, type ReaderData } from "./tree-reader-protocol";

const data = workerData as ReaderData;
const port = parentPort!;
// (the project's TypeScript libs declare no WebAssembly API: see hash-kernels.ts)
const Wasm = (globalThis as unknown as { WebAssembly: { Instance: new (m: unknown, imports: object) => { exports: unknown } } }).WebAssembly;
const kernels = new Wasm.Instance(data.module, { e: { m: data.memory } }).exports as {
  digest(at: number, len: number, scratch: number, out: number): void;
  cuts(at: number, len: number, scratch: number): number;
};
const mem = new Uint8Array(data.memory.buffer);
const slabs = Array.from({ length: data.slabs }, (_, i) => mem.subarray(data.slabBase + i * data.slabSize, data.slabBase + (i + 1) * data.slabSize));
const state = new Int32Array(data.state);

let slab = -1;
let used = 0;
let events: (number | string)[] = [];
let digests = Buffer.allocUnsafe(32 * 64);
let ndigests = 0;

/** Waits for a free slab and takes it. */
function claim(): number {
  for (;;) {
    while (Atomics.load(state, 0) === 0) Atomics.wait(state, 0, 0);
    for (let i = 0; i < slabs.length; i++)
      if (Atomics.compareExchange(state, 1 + i, 0, 1) === 0) {
        Atomics.sub(state, 0, 1);
        return i;
      }
  }
}

function post(release: boolean): void {
  port.postMessage({ events, slab, release, digests: ndigests ? new Uint8Array(digests.subarray(0, 32 * ndigests)) : null });
  events = [];
  ndigests = 0;
}

/** The BLAKE3 of mem[at, at + len) into the next digest slot; returns its index. */
function digest(at: number, len: number): number {
  if (32 * (ndigests + 1) > digests.length) {
    const d = Buffer.allocUnsafe(2 * digests.length);
    d.set(digests);
    digests = d;
  }
  kernels.digest(at, len, data.region, data.region + data.resultOff);
  digests.set(mem.subarray(data.region + data.resultOff, data.region + data.resultOff + 32), 32 * ndigests);
  return ndigests++;
}

/** Room for n bytes in the current slab (n <= slabSize). */
function room(n: number): void {
  if (slab >= 0 && used + n <= data.slabSize) return;
  if (slab >= 0) post(true);
  slab = claim();
  used = 0;
}

function event(...e: (number | string)[]): void {
  for (const x of e) events.push(x);
  if (events.length >= data.eventsPerMessage) post(false);
}

/** The encoder, telling the importing thread about directories, entries and symlinks as the walk writes them. */
class EventEncoder extends NarEncoder {
  /** The file being written (regular() comes before readFileInto). */
  executable = false;
  override regular(executable: boolean, size: number): void {
    this.executable = executable;
    super.regular(executable, size);
  }
  override symlink(target: string): void {
    super.symlink(target);
    event(Ev.Symlink, target);
  }
  override startDirectory(): void {
    super.startDirectory();
    event(Ev.Dir);
  }
  override entry(name: string): void {
    super.entry(name);
    event(Ev.Name, name);
  }
  override endDirectory(): void {
    super.endDirectory();
    event(Ev.DirEnd);
  }
}

const narSha = createHash("sha256");
const nar = new EventEncoder((c) => narSha.update(c), 256 * 1024);

/** Reads len bytes of a file into the current slab (and the NAR hash); returns their offset. */
function readInto(fd: number, path: string, len: number): number {
  room(len);
  const buf = slabs[slab];
  let o = 0;
  while (o < len) {
    const n = readSync(fd, buf, used + o, len - o, null);
    if (n === 0) throw new TreeError(`file '${path}' changed while being read`);
    o += n;
  }
  const off = used;
  used += len;
  nar.contents(buf.subarray(off, off + len));
  return off;
}

const reader: TreeAccessor = {
  ...hostTree,
  readFileInto(path, size) {
    const exec = nar.executable ? 1 : 0;
    const fd = openSync(path, "r");
    try {
      if (size <= data.maxWhole) {
        const off = size === 0 ? 0 : readInto(fd, path, size);
        const free = Atomics.load(state, 0);
        if (size <= data.minChunk || free >= data.leaveCutsWhenFree) event(Ev.File, exec, size, off, -1, 0);
        else {
          // chunker.ts's cuts, by the WASM kernel
          const at = data.slabBase + slab * data.slabSize + off;
          const n = kernels.cuts(at, size, data.region);
          const cuts = new Uint32Array(data.memory.buffer, data.region + data.cutsOff, n);
          const d = n > 1 && free <= data.helpWhenFree ? digest(at, size) : -1;
          event(Ev.File, exec, size, off, d, n, ...cuts);
        }
      } else {
        event(Ev.BigFile, exec, size);
        for (let left = size; left > 0; ) {
          const len = Math.min(left, data.slabSize / 4);
          const off = readInto(fd, path, len);
          event(Ev.Piece, len, off);
          left -= len;
        }
        event(Ev.FileEnd);
      }
    } finally {
      closeSync(fd);
    }
  },
};

try {
  dumpTree(reader, data.root, nar);
  nar.finish();
  post(slab >= 0);
  port.postMessage({ events: [], slab: -1, release: false, digests: null, done: { narHash: new Uint8Array(narSha.digest()), narSize: nar.size } });
} catch (e) {
  port.postMessage({ events: [], slab, release: false, digests: null, error: (e as Error)?.message ?? String(e) });
}
