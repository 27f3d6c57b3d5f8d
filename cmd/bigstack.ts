// Runs a task on a worker thread with a large stack. Nix code (nixpkgs in
// particular) recurses far deeper than the ~10k frames the main thread allows;
// a Worker with resourceLimits.stackSizeMb survives millions of frames.
//
// The worker re-enters the same module graph as the main thread (the bundle in
// dist/, or cmd/main.ts under tsx) and dispatches on workerData.tvixTask.
import { Worker } from "node:worker_threads";

export const BIG_STACK_MB = 1024;

export type TaskResult = { exitCode: number };

// The URL of the program's entry module: set by cmd/main.ts at start-up.
let entryUrl: URL | undefined;
export function setEntryUrl(u: URL): void {
  entryUrl = u;
}

export function runOnBigStack(task: string, payload: unknown): Promise<TaskResult> {
  if (!entryUrl) throw new Error("internal error: entry URL not set");
  return new Promise((resolve, reject) => {
    // Under tsx the worker needs the TypeScript loader registered first.
    const fromSource = entryUrl!.pathname.endsWith(".ts");
    const w = new Worker(fromSource ? new URL("../scripts/tsx-worker.mjs", entryUrl) : entryUrl!, {
      workerData: { tvixTask: task, payload, tvixEntry: entryUrl!.href },
      resourceLimits: { stackSizeMb: BIG_STACK_MB, maxOldGenerationSizeMb: 16384, maxYoungGenerationSizeMb: Number(process.env.TVIX_YOUNG_MB || 48) },
      stdout: false,
      stderr: false,
    });
    let result: TaskResult | undefined;
    w.on("message", (m: TaskResult) => (result = m));
    w.on("error", reject);
    w.on("exit", (code) => resolve(result ?? { exitCode: code === 0 ? 0 : 1 }));
  });
}

// Registry of tasks that may run on a big-stack worker. Tasks are registered
// in cmd/tasks.ts (loaded lazily), which main.ts imports on both threads.
type TaskFn = (payload: any) => Promise<number>;
const tasks = new Map<string, () => Promise<TaskFn>>();
export function registerTask(name: string, load: () => Promise<TaskFn>): void {
  tasks.set(name, load);
}
export async function runTaskInThisThread(name: string, payload: unknown): Promise<number> {
  const load = tasks.get(name);
  if (!load) throw new Error(`internal error: unknown worker task ${name}`);
  const fn = await load();
  return fn(payload);
}
