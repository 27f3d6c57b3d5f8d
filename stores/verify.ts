// `tvix store verify`: rechecks a castore store. For every path info, the NAR
// is rendered from castore and its sha256 and size compared with the
// recorded ones (rendering re-hashes every chunk, blob and directory it
// reads). On a local store every stored object is re-checked too, loose or
// in a pack (chunks and directories against their digests, manifests against
// the blob their chunks make up), so that a corrupt object no path references
// yet cannot be deduplicated into a future import; pack indexes that fail
// their checks are reported, and temp files (and temp packs) left by killed
// processes are removed.
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHasher, Hash } from "../core/hash";
import { blake3, createBlake3, initBlake3x4 as initBlake3 } from "./blake3x4";
import { fromHex, toHex } from "../core/castore";
import { decodeManifest } from "./blob-service";
import { KIND_NAMES, ObjectKind } from "./pack";
import { PackSet } from "./pack-set";
import type { CastoreNixStore } from "./castore-store";
import { renderNar } from "./nar-bridge";
import type { PathInfo } from "./types";
import type { DocumentBackend } from "./pathinfo-service";
import { LocalStore } from "./local";
import { removeStrayTempFiles } from "./durable-writer";

export interface VerifyReport {
  paths: number;
  /** Chunks checked, loose and packed. */
  chunks: number;
  packs: number;
  strayTempFiles: number;
  problems: string[];
}

export async function verifyStore(store: CastoreNixStore, onProblem: (msg: string) => void = () => {}): Promise<VerifyReport> {
  await initBlake3();
  const report: VerifyReport = { paths: 0, chunks: 0, packs: 0, strayTempFiles: 0, problems: [] };
  const problem = (m: string) => {
    report.problems.push(m);
    onProblem(m);
  };
  if (store instanceof LocalStore) {
    report.strayTempFiles = store.layout.writer.strayTempFilesRemoved + removeStrayTempFiles(store.layout.writer.tmpDir);
    report.chunks = verifyChunkFiles(store.layout.chunks, problem);
    const packed = await verifyPacks(store, problem);
    report.chunks += packed.chunks;
    report.packs = packed.packs;
  }
  // one path info at a time, so that a corrupt one is reported and the rest still checked
  const infos: (() => Promise<PathInfo | null>)[] = [];
  const backend = (store.pathInfos as { backend?: DocumentBackend }).backend;
  if (backend) for await (const k of backend.keys()) infos.push(() => store.pathInfos.get(k));
  else for await (const p of store.pathInfos.list()) infos.push(async () => p);
  for (const get of infos) {
    report.paths++;
    let info;
    try {
      info = await get();
    } catch (e) {
      problem((e as Error).message);
      continue;
    }
    if (!info) continue;
    try {
      const h = createHasher("sha256");
      let size = 0;
      for await (const c of renderNar(store, info.node)) {
        h.update(c);
        size += c.length;
      }
      const got = h.digest();
      const want = Hash.parse(info.narHash);
      if (!want.equals(got)) problem(`path '${info.storePath}': NAR hash is ${got.toString()}, expected ${want.toString()}`);
      else if (size !== info.narSize) problem(`path '${info.storePath}': NAR size is ${size}, expected ${info.narSize}`);
    } catch (e) {
      problem(`path '${info.storePath}': ${(e as Error).message}`);
    }
  }
  return report;
}

function verifyChunkFiles(chunksDir: string, problem: (m: string) => void): number {
  let n = 0;
  for (const shard of readdirSync(chunksDir).sort()) {
    for (const name of readdirSync(join(chunksDir, shard)).sort()) {
      n++;
      const p = join(chunksDir, shard, name);
      let digest: Uint8Array;
      try {
        digest = fromHex(name);
      } catch {
        problem(`unexpected file '${p}' in the chunk directory`);
        continue;
      }
      const got = blake3(readFileBytes(p));
      if (Buffer.compare(got, digest) !== 0) problem(`chunk ${name} is corrupt (its contents hash to ${Buffer.from(got).toString("hex")}): remove '${p}' and re-import the paths using it`);
    }
  }
  return n;
}

/** Re-checks every object of every pack (and reports packs whose index is unusable). */
async function verifyPacks(store: LocalStore, problem: (m: string) => void): Promise<{ chunks: number; packs: number }> {
  // every pack's own index, checked anew (not the index cache the store opened with)
  const packs = new PackSet(store.layout.packs.dir);
  try {
    return await checkPacks(store, packs, problem);
  } finally {
    packs.close();
  }
}

async function checkPacks(store: LocalStore, packs: PackSet, problem: (m: string) => void): Promise<{ chunks: number; packs: number }> {
  let chunks = 0;
  let n = 0;
  for (const [name, why] of packs.bad) problem(`${why} (its objects are not used; remove '${join(packs.dir, name)}' and re-import the paths using them)`);
  for (const pack of packs.entries()) {
    n++;
    try {
      for (const e of pack.entries) {
        const what = `${KIND_NAMES[e.kind]} ${toHex(e.digest)} in pack '${pack.path}' (offset ${e.offset})`;
        const data = pack.read(e);
        if (data.length !== e.length) {
          problem(`${what} is corrupt: the pack ends ${e.length - data.length} byte(s) short of it`);
          continue;
        }
        if (e.kind === ObjectKind.Manifest) {
          const why = await checkManifest(store, e.digest, data);
          if (why) problem(`${what} is corrupt: ${why}`);
          continue;
        }
        if (e.kind === ObjectKind.Chunk) chunks++;
        const got = blake3(data);
        if (Buffer.compare(got, e.digest) !== 0) problem(`${what} is corrupt: its contents hash to ${toHex(got)}`);
      }
    } catch (err) {
      problem((err as Error).message);
    }
  }
  return { chunks, packs: n };
}

/** Why a manifest is wrong (its chunks do not make up the blob it names), or null. */
async function checkManifest(store: LocalStore, blob: Uint8Array, data: Uint8Array): Promise<string | null> {
  try {
    const h = await createBlake3();
    for (const c of decodeManifest(data, toHex(blob))) {
      const bytes = await store.blobs.readVerifiedChunk(c.digest, blob);
      if (bytes.length !== c.size) return `chunk ${toHex(c.digest)} has ${bytes.length} bytes, the manifest says ${c.size}`;
      h.update(bytes);
    }
    const got = h.digest();
    return Buffer.compare(got, blob) === 0 ? null : `its chunks hash to ${toHex(got)}`;
  } catch (e) {
    return (e as Error).message;
  }
}

function readFileBytes(p: string): Uint8Array {
  const b = readFileSync(p);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
