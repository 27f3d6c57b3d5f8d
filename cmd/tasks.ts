// The tasks that run on a big-stack worker (see bigstack.ts). Each entry
// loads its module lazily, so registering costs nothing at start-up.
import { registerTask, registerSyncCall } from "./bigstack";

registerTask("eval", async () => (await import("./eval-task")).evalTask);
registerTask("instantiate", async () => (await import("./instantiate-task")).instantiateTask);
registerTask("repl", async () => (await import("./repl-task")).replTask);
registerTask("build-eval", async () => (await import("./build-eval")).buildEvalTask);

// Async helpers the (synchronous) evaluator calls through callSync.
registerSyncCall("fetch-url", async () => (await import("../eval/fetch/download")).download);
registerSyncCall("unpack-archive", async () => (await import("../eval/fetch/unpack")).unpackArchive);
