// What the tree reader's thread (tree-reader-worker.ts) and the importing
// thread (tree-reader.ts) exchange: the flat event list and the worker's
// start-up data. Shared by both, so it imports types only.
import type { WasmMemory, WasmModule } from "./hash-kernels";

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

/** The worker's workerData. */
export interface ReaderData {
  root: string;
  /** The WASM kernels (stores/hash-kernels.ts) and the memory they share with the importing thread. */
  module: WasmModule;
  memory: WasmMemory;
  slabs: number;
  slabBase: number;
  slabSize: number;
  /** [0]: free slabs; [1 + i]: slab i in use. */
  state: SharedArrayBuffer;
  /** Files up to this size come whole (one File event); larger ones in pieces. */
  maxWhole: number;
  eventsPerMessage: number;
  minChunk: number;
  /** The worker's scratch region in the memory, and the offsets of its cut list and digest result. */
  region: number;
  cutsOff: number;
  resultOff: number;
  /** The worker computes a multi-chunk file's BLAKE3 when at most this many slabs are free. */
  helpWhenFree: number;
  /** The worker leaves cutting to the importing thread when at least this many slabs are free. */
  leaveCutsWhenFree: number;
}
