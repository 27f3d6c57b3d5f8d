// Writes what an evaluation created (sources, toFile results, fetched paths,
// .drv files: a RecordingStore's pending list) to a real store, and, when
// asked, materialises those paths under the store directory on disk (as
// `nix-instantiate --read-write-mode` leaves them in /nix/store).
import { accessSync, constants, existsSync } from "node:fs";
import type { RecordingStore } from "../eval/io";
import { hashBytes } from "../core/hash";

export async function flushRecorded(recorder: RecordingStore, storeUrl: string | undefined, opts: { materialise?: boolean } = {}): Promise<void> {
  if (recorder.pending.size === 0) return;
  await import("../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../stores/url");
  const store = await openStore(storeUrl ?? defaultStoreUrl(), { storeDir: recorder.storeDir });
  try {
    for (const p of recorder.pending.values()) {
      if (await store.queryPathInfo(p.storePath)) continue;
      await store.addToStore(
        { storePath: p.storePath, narHash: hashBytes("sha256", p.nar).format("nix32", true), narSize: p.nar.length, references: p.references, signatures: [], ca: p.ca },
        (async function* () {
          yield p.nar;
        })(),
      );
    }
    if (opts.materialise && writableDir(recorder.storeDir)) {
      const { CastoreNixStore } = await import("../stores/castore-store");
      const { materialise } = await import("../stores/materialise");
      if (store instanceof CastoreNixStore)
        for (const p of recorder.pending.keys()) if (!existsSync(p)) await materialise(store, p, recorder.storeDir);
    }
  } finally {
    await store.close();
  }
}

function writableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
