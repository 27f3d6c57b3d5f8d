// The evaluator as the CLI sets it up: glue's store-aware EvalIO, reading the
// configured store (--store, $TVIX_STORE or the local default) through a
// helper thread started on the first read that needs it, and building what
// the evaluation imports from derivations (allow-import-from-derivation)
// through a sync call to a helper thread.
import { makeEvalHost } from "../glue";
import { BlockingStoreReader } from "../glue/store-reader";
import { callSync } from "../glue/sync-calls";
import { byReferenceLevel, checkContentAddress, serialise } from "../glue/flush";
import type { StoreIO } from "../glue/store-io";
import { hashBytes } from "../core/hash";
import { buildSettingsFrom } from "../builders/settings";
import { startSyncService } from "./bigstack";
import { settings } from "./settings";
import { tvixHome } from "../stores/url";
import { join } from "node:path";

export function cliEvalHost(opts: { storeDir?: string; storeUrl?: string; writes: boolean }): ReturnType<typeof makeEvalHost> {
  const storeDir = opts.storeDir ?? "/nix/store";
  let service: ReturnType<typeof startSyncService> | null = null;
  const reader = new BlockingStoreReader((req) => (service ??= startSyncService("store-reader", { storeUrl: opts.storeUrl, storeDir })).call(req));
  const config = settings();
  const realise = config.bool("allow-import-from-derivation") ? (drvPath: string, io: StoreIO) => realiseThroughHelper(drvPath, io, opts.storeUrl) : "disabled";
  return makeEvalHost({ storeDir, writes: opts.writes, store: reader, realise, stalledDownloadTimeout: config.int("stalled-download-timeout") });
}

/** Writes what the evaluation made to the store and builds `drvPath` there, waiting for it. */
function realiseThroughHelper(drvPath: string, io: StoreIO, storeUrl: string | undefined) {
  const paths = [];
  for (const level of byReferenceLevel([...io.pending.values()]))
    for (const p of level) {
      const { nar, caBytes } = serialise(p);
      checkContentAddress(p, nar, caBytes);
      paths.push({ storePath: p.storePath, references: p.references, ca: p.ca, nar, narHash: hashBytes("sha256", nar).format("nix32", true) });
    }
  return callSync("realise", {
    storeUrl,
    storeDir: io.storeDir,
    drvPath,
    paths,
    settings: buildSettingsFrom(settings()),
    logDir: process.env.TVIX_LOG_DIR || join(tvixHome(), "log"),
  }).outputs;
}
