// Program entry. On the main thread it runs the CLI; on a big-stack worker it
// runs the task it was started for (see bigstack.ts).
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { setEntryUrl, runTaskInThisThread, answerSyncCall } from "./bigstack";
import { reportFatal } from "./errors";
import "./tasks";

setEntryUrl(new URL(import.meta.url));

async function main(): Promise<void> {
  if (!isMainThread && workerData?.tvixSyncCall) {
    await answerSyncCall(workerData);
    return;
  }
  if (!isMainThread && workerData?.tvixTask) {
    let exitCode: number;
    try {
      exitCode = await runTaskInThisThread(workerData.tvixTask, workerData.payload);
    } catch (e) {
      exitCode = reportFatal(e);
    }
    parentPort!.postMessage({ exitCode });
    return;
  }
  // invoked through a symlink named nix-instantiate: the drop-in
  if (/(^|\/)nix-instantiate$/.test(process.argv0) || /(^|\/)nix-instantiate$/.test(process.argv[1] ?? "")) {
    const { nixInstantiateMain } = await import("./nix-instantiate");
    process.exitCode = await nixInstantiateMain(process.argv.slice(2));
    return;
  }
  const { runCli } = await import("./cli");
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
}

main().catch((e) => {
  process.exitCode = reportFatal(e);
});
