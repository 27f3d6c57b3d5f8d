// Target "nar": the NAR readers (core/nar.ts: the in-memory one through parseNarToTree)
// and the store's NAR ingest (stores/nar-bridge.ts ingestNar into memory
// castore services). Both must refuse a bad NAR with a NarError (ingest may
// also refuse with NarMismatchError or a castore error), and agree on which
// NARs are good.
import { NarError, parseNarToTree } from "../core/nar";
import { CastoreError } from "../core/castore";
import { ingestNar, NarMismatchError } from "../stores/nar-bridge";
import { ChunkedBlobService } from "../stores/blob-service";
import { ProtoDirectoryService } from "../stores/directory-service";
import { MemoryBytesBackend, MemoryChunkBackend } from "../stores/memory-backend";
import type { Target } from "./engine";
import { seedFiles } from "./seeds";

function services() {
  return { blobs: new ChunkedBlobService(new MemoryChunkBackend()), directories: new ProtoDirectoryService(new MemoryBytesBackend()) };
}
let svc = services();
let ingested = 0;

async function* chunks(b: Uint8Array, step: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += step) yield b.subarray(i, i + step);
}

export const narTarget: Target = {
  name: "nar",
  seeds: () => seedFiles("nar"),
  dictionary: ["nix-archive-1", "(", ")", "type", "regular", "directory", "symlink", "contents", "executable", "entry", "name", "node", "target", "", "..", ".", "/", "a\0b"].map(framed),
  maxLen: 64 * 1024,
  async run(input) {
    let treeErr: unknown = null;
    try {
      await parseNarToTree(input);
    } catch (e) {
      if (!(e instanceof NarError)) throw e;
      treeErr = e;
    }
    // the same bytes through ingest, in uneven chunks
    if (++ingested % 5000 === 0) svc = services();
    let ingestErr: unknown = null;
    try {
      await ingestNar(svc, chunks(input, 1 + (input.length % 97)));
    } catch (e) {
      ingestErr = e;
    }
    if ((treeErr === null) !== (ingestErr === null))
      throw new Error(`internal error: the reader and ingest disagree: ${String(treeErr ?? "accepted")} / ${String(ingestErr ?? "accepted")}`);
    if (treeErr) throw treeErr;
    if (ingestErr) throw ingestErr;
    return "ok";
  },
  expected: (e) => e instanceof NarError || e instanceof NarMismatchError || e instanceof CastoreError,
};

/** A NAR string: u64 length, bytes, zero padding to 8. */
function framed(s: string): string {
  const pad = (8 - (s.length % 8)) % 8;
  const len = String.fromCharCode(s.length & 0xff, (s.length >> 8) & 0xff, 0, 0, 0, 0, 0, 0);
  return len + s + "\0".repeat(pad);
}
