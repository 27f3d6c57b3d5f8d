// Hashes large in-memory blobs for ChunkedBlobService.putSync() on a worker
// thread: the chunk cuts, each chunk's BLAKE3 and the whole blob's, with the
// WASM kernels of stores/hash-kernels.ts on a memory shared with the worker.
// The daemon hands it the contents of a large single-file NAR, so that its
// main thread reads and stores other paths meanwhile (hashing is most of an
// in-memory file's cost there). The worker is plain JS evaluated from a
// string and only calls the kernels' exports: the gear table of its region
// is filled from this thread, in the shared memory. One blob at a time.
import type { Worker } from "node:worker_threads";
import { lazyModule } from "../core/lazy-module";
import { MAX_DIGEST, Region, instantiateKernels, kernelMemory, kernelModule } from "./hash-kernels";

export interface BlobHashes {
  /** Chunk lengths (as chunkBuffer() cuts them). */
  cuts: Uint32Array;
  /** Each chunk's BLAKE3, 32 bytes apiece. */
  digests: Uint8Array;
  /** The whole blob's BLAKE3. */
  whole: Uint8Array;
}

/** Memory layout: this thread's region (unused but for its gear table), the worker's, then the input. */
const WORKER_REGION = Region.size;
const INPUT = 2 * Region.size;
/** The largest blob hashed off-thread (the kernels' limit for one digest). */
export const BLOB_HASHER_MAX = MAX_DIGEST;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { module, memory, region, input, cutsAt, resultAt } = workerData;
const ex = new WebAssembly.Instance(module, { e: { m: memory } }).exports;
const mem = new Uint8Array(memory.buffer);
parentPort.on("message", (len) => {
  const n = ex.cuts(input, len, region);
  const cuts = new Uint32Array(memory.buffer, cutsAt, n).slice();
  const digests = new Uint8Array(32 * n);
  for (let i = 0, at = input; i < n; at += cuts[i], i++) {
    ex.digest(at, cuts[i], region, resultAt);
    digests.set(mem.subarray(resultAt, resultAt + 32), 32 * i);
  }
  let whole = digests.slice(0, 32);
  if (n > 1) {
    ex.digest(input, len, region, resultAt);
    whole = mem.slice(resultAt, resultAt + 32);
  }
  parentPort.postMessage({ cuts, digests, whole }, [cuts.buffer, digests.buffer, whole.buffer]);
});
`;

export class BlobHasher {
  private readonly worker: Worker;
  private readonly mem: Uint8Array;
  private queue: Promise<unknown> = Promise.resolve();
  private pending: { resolve(h: BlobHashes): void; reject(e: Error): void } | null = null;
  private broken: Error | null = null;

  private constructor() {
    const module = kernelModule()!;
    const memory = kernelMemory(INPUT + MAX_DIGEST);
    // fills both regions' gear tables (the worker's cut search reads its own)
    instantiateKernels(module, memory, [0, WORKER_REGION]);
    this.mem = new Uint8Array(memory.buffer);
    const { Worker } = lazyModule<typeof import("node:worker_threads")>("node:worker_threads");
    const workerData = { module, memory, region: WORKER_REGION, input: INPUT, cutsAt: WORKER_REGION + Region.cuts, resultAt: WORKER_REGION + Region.result };
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    this.worker.unref();
    this.worker.on("message", (h: BlobHashes) => this.settle((p) => p.resolve(h)));
    this.worker.on("error", (e) => this.fail(e));
    this.worker.on("exit", (code) => this.fail(new Error(`the blob hashing thread exited (code ${code})`)));
  }

  private static instance: BlobHasher | null | undefined;
  /** This thread's hasher, or null where the WASM kernels are not available. */
  static shared(): BlobHasher | null {
    if (BlobHasher.instance === undefined) BlobHasher.instance = kernelModule() ? new BlobHasher() : null;
    return BlobHasher.instance;
  }

  /** The hashes of data (at most BLOB_HASHER_MAX bytes), computed on the worker; data must stay unchanged until the promise settles (it is copied when its turn comes). */
  hash(data: Uint8Array): Promise<BlobHashes> {
    if (data.length > BLOB_HASHER_MAX) return Promise.reject(new Error(`internal error: a ${data.length}-byte blob is too large to hash off-thread`));
    const run = this.queue.then(
      () =>
        new Promise<BlobHashes>((resolve, reject) => {
          if (this.broken) return reject(this.broken);
          this.mem.set(data, INPUT);
          this.pending = { resolve, reject };
          this.worker.ref(); // a job in progress keeps the process up
          this.worker.postMessage(data.length);
        }),
    );
    this.queue = run.catch(() => {});
    return run;
  }

  private settle(f: (p: { resolve(h: BlobHashes): void; reject(e: Error): void }) => void): void {
    const p = this.pending;
    this.pending = null;
    this.worker.unref();
    if (p) f(p);
  }

  private fail(e: Error): void {
    this.broken ??= e;
    this.settle((p) => p.reject(e));
  }
}
