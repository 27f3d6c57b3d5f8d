// The worker side of `tvix repl`: a ReplSession answering one input line per
// message from the main thread (which owns the terminal).
import { prepareEvalWorker } from "./eval-worker";
import { parentPort } from "node:worker_threads";
import { ReplSession } from "../eval/repl";
import { cliEvalHost } from "./eval-host";

export async function replTask(payload: { nixPath: string[]; cwd: string }): Promise<number> {
  prepareEvalWorker();
  const session = new ReplSession(payload.nixPath, payload.cwd, cliEvalHost({ writes: false }).host);
  session.state.traceSink = (m) => parentPort!.postMessage({ out: m + "\n" });
  return new Promise((resolve) => {
    const onLine = (m: { line: string }) => {
      const r = session.handle(m.line);
      parentPort!.postMessage({ out: r.out, done: true, quit: !!r.quit });
      if (r.quit) {
        parentPort!.off("message", onLine);
        resolve(0);
      }
    };
    parentPort!.on("message", onLine);
  });
}
