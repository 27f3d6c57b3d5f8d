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
import type { Worker } from "node:worker_threads";
import { lazyModule } from "../core/lazy-module";
import { createRequire } from "node:module";
import { NarError } from "../core/nar";
import type { ReaderData, ReaderMessage } from "./tree-reader-protocol";
import { MIN_CHUNK } from "./chunker";
import { Region, instantiateKernels, kernelMemory, kernelModule, type Kernels } from "./hash-kernels";
import { Blake3x4, registerMemory } from "./blake3x4";

export { Ev, type ReaderMessage } from "./tree-reader-protocol";
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

// The worker's program: stores/tree-reader-worker.ts, bundled by build.mjs
// into this constant; from the sources, bundled here on first use.
declare const __TVIX_TREE_READER_WORKER__: string | undefined;
let workerSource: string | null = typeof __TVIX_TREE_READER_WORKER__ === "string" ? __TVIX_TREE_READER_WORKER__ : null;
export function treeReaderWorkerSource(): string {
  if (workerSource === null) {
    const req = createRequire(import.meta.url);
    const esbuild = req("esbuild") as typeof import("esbuild");
    // as build.mjs does it
    const out = esbuild.buildSync({
      entryPoints: [req.resolve("./tree-reader-worker.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      write: false,
      logLevel: "warning",
      define: { "import.meta.url": "__tvixWorkerUrl" },
      banner: { js: 'var __tvixWorkerUrl = require("node:url").pathToFileURL(process.cwd() + "/").href;' },
    });
    workerSource = out.outputFiles[0].text;
  }
  return workerSource;
}

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
    const workerData: ReaderData = {
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
    };
    const { Worker } = lazyModule<typeof import("node:worker_threads")>("node:worker_threads");
    this.worker = new Worker(treeReaderWorkerSource(), { eval: true, workerData });
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
