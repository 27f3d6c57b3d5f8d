// `tvix store verify`: rechecks a castore store. For every path info, the NAR
// is rendered from castore and its sha256 and size compared with the
// recorded ones (rendering re-hashes every chunk, blob and directory it
// reads). On a local store every chunk file is re-hashed too, so that a
// corrupt chunk no path references yet cannot be deduplicated into a future
// import, and temp files left by killed processes are removed.
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHasher, Hash } from "../core/hash";
import { blake3, initBlake3 } from "../core/blake3";
import { fromHex } from "../core/castore";
import type { CastoreNixStore } from "./castore-store";
import { renderNar } from "./nar-bridge";
import type { PathInfo } from "./types";
import type { DocumentBackend } from "./pathinfo-service";
import { LocalStore } from "./local";

export interface VerifyReport {
  paths: number;
  chunks: number;
  strayTempFiles: number;
  problems: string[];
}

export async function verifyStore(store: CastoreNixStore, onProblem: (msg: string) => void = () => {}): Promise<VerifyReport> {
  await initBlake3();
  const report: VerifyReport = { paths: 0, chunks: 0, strayTempFiles: 0, problems: [] };
  const problem = (m: string) => {
    report.problems.push(m);
    onProblem(m);
  };
  if (store instanceof LocalStore) {
    report.strayTempFiles = removeStrayTempFiles(store.layout.writer.tmpDir);
    report.chunks = verifyChunkFiles(store.layout.chunks, problem);
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

function readFileBytes(p: string): Uint8Array {
  const b = readFileSync(p);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Removes temp files whose writer process is gone (names start with the writer's pid). */
function removeStrayTempFiles(tmpDir: string): number {
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
