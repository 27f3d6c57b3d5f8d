// The evaluator as the CLI sets it up: glue's store-aware EvalIO, reading the
// configured store (--store, $TVIX_STORE or the local default) through a
// helper thread started on the first read that needs it.
import { makeEvalHost } from "../glue";
import { BlockingStoreReader } from "../glue/store-reader";
import { startSyncService } from "./bigstack";

export function cliEvalHost(opts: { storeDir?: string; storeUrl?: string; writes: boolean }): ReturnType<typeof makeEvalHost> {
  const storeDir = opts.storeDir ?? "/nix/store";
  let service: ReturnType<typeof startSyncService> | null = null;
  const reader = new BlockingStoreReader((req) => (service ??= startSyncService("store-reader", { storeUrl: opts.storeUrl, storeDir })).call(req));
  return makeEvalHost({ storeDir, writes: opts.writes, store: reader });
}
