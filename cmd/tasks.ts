// The tasks that run on a big-stack worker (see bigstack.ts). Each entry
// loads its module lazily, so registering costs nothing at start-up.
import { registerTask, registerSyncCall, registerSyncService } from "./bigstack";
import { SYNC_CALL_MODULES, type SyncCalls } from "../glue/sync-calls";

registerTask("eval", async () => (await import("./eval-task")).evalTask);
registerTask("instantiate", async () => (await import("./instantiate-task")).instantiateTask);
registerTask("repl", async () => (await import("./repl-task")).replTask);
registerTask("build-eval", async () => (await import("./build-eval")).buildEvalTask);

// Async helpers the (synchronous) evaluator calls through callSync.
for (const name of Object.keys(SYNC_CALL_MODULES) as (keyof SyncCalls)[]) registerSyncCall(name, SYNC_CALL_MODULES[name]);
// The configured store, read during evaluation.
registerSyncService("store-reader", async () => (await import("../glue/store-reader")).storeReaderService);
