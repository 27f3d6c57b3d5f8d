// Program entry. On the main thread it runs the CLI; on a big-stack worker it
// runs the task it was started for (see bigstack.ts).
import { setEntryUrl, runTaskInThisThread, answerSyncCall, serveSyncService, prespawn, waitForTask, WAIT_TASK, trialRunsEnabled } from "./bigstack";
import { reportFatal } from "./errors";
import { lazyModule } from "../core/lazy-module";
import "./tasks";
import { setHttpLimitsSource } from "../stores/http";

// The binary's entry (build.mjs) runs this on the main thread and says so;
// it has set the V8 flags below already. Otherwise (the sources, or a
// worker) node:worker_threads tells. (Both node:v8 and node:worker_threads
// load the stream modules: the entry spares the main thread that.)
declare global {
  // eslint-disable-next-line no-var
  var __tvixMainThread: boolean | undefined;
}
const threads = globalThis.__tvixMainThread ? null : lazyModule<typeof import("node:worker_threads")>("node:worker_threads");
const isMainThread = threads === null || threads.isMainThread;
const workerData = threads?.workerData;
const parentPort = threads?.parentPort ?? null;

// Less inlining by TurboFan: see docs/packaging.md.
if (!globalThis.__tvixMainThread && isMainThread) lazyModule<typeof import("node:v8")>("node:v8").setFlagsFromString("--max-inlined-bytecode-size=60");
setEntryUrl(new URL(import.meta.url));
// downloads in any thread take their timeouts from this run's configuration (read when first needed)
setHttpLimitsSource(async () => {
  const { settings, httpLimitsFrom } = await import("./settings");
  return httpLimitsFrom(settings());
});

async function main(): Promise<void> {
  if (!isMainThread && workerData?.tvixSyncCall) {
    await answerSyncCall(workerData);
    return;
  }
  if (!isMainThread && workerData?.tvixSyncService) {
    await serveSyncService(workerData);
    return;
  }
  if (!isMainThread && workerData?.tvixTask) {
    let exitCode: number;
    try {
      exitCode =
        workerData.tvixTask === WAIT_TASK
          ? await waitForTask(workerData.preload, parentPort!)
          : await runTaskInThisThread(workerData.tvixTask, workerData.payload);
    } catch (e) {
      exitCode = reportFatal(e);
    }
    parentPort!.postMessage({ exitCode });
    return;
  }
  // invoked through a symlink named nix-instantiate: the drop-in
  const dropIn = /(^|\/)nix-instantiate$/.test(process.argv0) || /(^|\/)nix-instantiate$/.test(process.argv[1] ?? "");
  // Evaluation commands start on this thread (a trial run, see bigstack.ts);
  // without trial runs, start the big-stack worker while the CLI loads.
  const args = process.argv.slice(2);
  // worker threads (a prespawned one starts before the CLI parses) load the
  // configuration themselves: the --option pairs reach them in the environment
  const options: Record<string, string> = {};
  for (let i = 0; i + 2 < args.length; i++) if (args[i] === "--option") (options[args[i + 1]] = args[i + 2]), (i += 2);
  process.env.TVIX_CLI_OPTIONS = JSON.stringify(options);
  if (!trialRunsEnabled()) {
    if (dropIn) prespawn(args.includes("--eval") || args.includes("--eval-only") || args.includes("--parse") ? "eval" : "instantiate");
    else if (args[0] === "eval" || args[0] === "instantiate") prespawn(args[0] === "eval" || args.includes("--eval") ? "eval" : "instantiate");
  }
  if (dropIn) {
    const { nixInstantiateMain } = await import("./nix-instantiate");
    exit(await nixInstantiateMain(process.argv.slice(2)));
  }
  const { runCli } = await import("./cli");
  exit(await runCli(process.argv.slice(2)));
}

/**
 * Ends the program once a command is done. Exiting at once spares the
 * teardown of the heap that a natural exit does (~40 ms after a big
 * evaluation); all output was written synchronously (fds, or stdout and
 * stderr, which are synchronous on Linux).
 */
function exit(code: number): never {
  process.exit(code);
}

main().catch((e) => {
  process.exitCode = reportFatal(e);
});
