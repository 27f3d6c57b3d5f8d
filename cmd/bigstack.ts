// Runs a task on a worker thread with a large stack. Nix code (nixpkgs in
// particular) recurses far deeper than the ~10k frames the main thread allows;
// a Worker with resourceLimits.stackSizeMb survives millions of frames.
//
// The worker re-enters the same module graph as the main thread (the bundle in
// dist/, or cmd/main.ts under tsx) and dispatches on workerData.tvixTask.
import type { MessagePort, Worker } from "node:worker_threads";
import { lazyModule } from "../core/lazy-module";

// loaded when a worker is first needed (see main.ts)
const threads = () => lazyModule<typeof import("node:worker_threads")>("node:worker_threads");

export const BIG_STACK_MB = 1024;

export type TaskResult = { exitCode: number };

// The URL of the program's entry module: set by cmd/main.ts at start-up.
let entryUrl: URL | undefined;
export function setEntryUrl(u: URL): void {
  entryUrl = u;
}

/** A big-stack worker running `task` that talks to the caller by messages (the REPL). */
export function startTaskWorker(task: string, payload: unknown): Worker {
  return spawnBigStack({ tvixTask: task, payload });
}

function spawnBigStack(workerData: Record<string, unknown>): Worker {
  if (!entryUrl) throw new Error("internal error: entry URL not set");
  // Under tsx the worker needs the TypeScript loader registered first.
  const fromSource = entryUrl.pathname.endsWith(".ts");
  return new (threads().Worker)(fromSource ? new URL("../scripts/tsx-worker.mjs", entryUrl) : entryUrl, {
    workerData: { ...workerData, tvixEntry: entryUrl.href },
    resourceLimits: { stackSizeMb: BIG_STACK_MB, maxOldGenerationSizeMb: 16384, maxYoungGenerationSizeMb: 48 },
    stdout: false,
    stderr: false,
  });
}

// A worker started at program start, while the CLI is still parsing its
// arguments: it loads the evaluator in parallel and then waits for its task.
let prespawned: { task: string; worker: Worker } | null = null;

/** Starts the big-stack worker early for a task that is about to be run. */
export function prespawn(task: string): void {
  const worker = spawnBigStack({ tvixTask: WAIT_TASK, preload: task });
  worker.unref(); // until it is given work, it must not keep the process alive
  worker.on("error", () => {});
  prespawned = { task, worker };
}
export const WAIT_TASK = "__wait";

/** Counts of the writes to stdout and stderr an evaluation made. */
export interface Written {
  out: number;
  err: number;
}

/** A trial run on the main thread ran out of room (eval/limits.ts): rerun on the big stack, skipping what it wrote. */
export class RerunOnBigStack extends Error {
  constructor(public readonly written: Written) {
    super("internal: rerun on the big-stack worker");
  }
}

/** Whether evaluation tasks first run on the main thread (off with TVIX_EVAL_THREAD=worker). */
export function trialRunsEnabled(): boolean {
  return process.env.TVIX_EVAL_THREAD !== "worker";
}

/**
 * Runs an evaluation task (eval, instantiate): first as a trial on the main
 * thread, which spares the worker's start-up; when that runs out of stack or
 * heap, again on the big-stack worker, which skips the output already written.
 */
export async function runEvaluation(task: string, payload: object): Promise<TaskResult> {
  if (trialRunsEnabled()) {
    try {
      return { exitCode: await runTaskInThisThread(task, { ...payload, trial: true }) };
    } catch (e) {
      if (!(e instanceof RerunOnBigStack)) throw e;
      payload = { ...payload, skip: e.written };
    }
  }
  return runOnBigStack(task, payload);
}

export function runOnBigStack(task: string, payload: unknown): Promise<TaskResult> {
  return new Promise((resolve, reject) => {
    let w: Worker;
    if (prespawned && prespawned.task === task) {
      w = prespawned.worker;
      prespawned = null;
      w.ref();
      w.removeAllListeners("error");
      w.postMessage({ task, payload });
    } else w = spawnBigStack({ tvixTask: task, payload });
    let result: TaskResult | undefined;
    w.on("message", (m: TaskResult) => (result = m));
    w.on("error", reject);
    w.on("exit", (code) => resolve(result ?? { exitCode: code === 0 ? 0 : 1 }));
  });
}

/** Worker side of prespawn: load the task's module now, then run the task the main thread sends. */
export async function waitForTask(preload: string, port: MessagePort): Promise<number> {
  const loading = tasks.get(preload)?.();
  const msg = await new Promise<{ task: string; payload: unknown }>((resolve) => port.once("message", resolve));
  await loading;
  return runTaskInThisThread(msg.task, msg.payload);
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

// ---------------------------------------------------------------- sync calls

// Evaluation is synchronous, but fetching (HTTP, decompression) is not: a
// sync call runs an async function on a short-lived worker and blocks this
// thread on Atomics.wait until it answers.
type SyncFn = (payload: any) => Promise<unknown>;
const syncFns = new Map<string, () => Promise<SyncFn>>();
export function registerSyncCall(name: string, load: () => Promise<SyncFn>): void {
  syncFns.set(name, load);
}

export function callSync(name: string, payload: unknown): unknown {
  if (!entryUrl) throw new Error("internal error: entry URL not set");
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { MessageChannel, Worker, receiveMessageOnPort } = threads();
  const { port1, port2 } = new MessageChannel();
  const fromSource = entryUrl.pathname.endsWith(".ts");
  const w = new Worker(fromSource ? new URL("../scripts/tsx-worker.mjs", entryUrl) : entryUrl, {
    workerData: { tvixSyncCall: name, payload, flag, port: port2, tvixEntry: entryUrl.href },
    transferList: [port2],
    stdout: false,
    stderr: false,
  });
  Atomics.wait(flag, 0, 0);
  const msg = receiveMessageOnPort(port1)?.message as { ok: true; value: unknown } | { ok: false; error: string } | undefined;
  port1.close();
  void w.terminate();
  if (!msg) throw new Error(`internal error: sync call ${name} gave no answer`);
  if (!msg.ok) throw new SyncCallError(msg.error);
  return msg.value;
}

/** The error a sync call's function threw, with its message. */
export class SyncCallError extends Error {}

/** Worker side: runs the sync call named in workerData and answers. */
export async function answerSyncCall(data: { tvixSyncCall: string; payload: unknown; flag: Int32Array; port: MessagePort }): Promise<void> {
  let msg: { ok: true; value: unknown } | { ok: false; error: string };
  try {
    const load = syncFns.get(data.tvixSyncCall);
    if (!load) throw new Error(`internal error: unknown sync call ${data.tvixSyncCall}`);
    msg = { ok: true, value: await (await load())(data.payload) };
  } catch (e) {
    msg = { ok: false, error: (e as Error)?.message ?? String(e) };
  }
  data.port.postMessage(msg);
  Atomics.store(data.flag, 0, 1);
  Atomics.notify(data.flag, 0);
}

// ---------------------------------------------------------------- sync services

// A sync service is a worker that stays up and answers requests while the
// caller blocks on Atomics.wait (glue's store reader: the configured store
// read during evaluation). Unlike a sync call it is started once.
type ServiceFactory = (payload: any) => Promise<(req: any) => Promise<unknown>>;
const serviceFactories = new Map<string, () => Promise<ServiceFactory>>();
export function registerSyncService(name: string, load: () => Promise<ServiceFactory>): void {
  serviceFactories.set(name, load);
}

/** How long a blocked caller waits for an answer before giving up. */
const SERVICE_TIMEOUT_MS = 120_000;
/** flag[0]: 0 waiting, 1 answered, 2 the worker is gone. */
const ANSWERED = 1;
const GONE = 2;

/** Starts a service's worker; `call` sends one request and blocks until its answer. */
export function startSyncService(name: string, payload: unknown): { call(req: unknown): unknown; close(): void } {
  if (!entryUrl) throw new Error("internal error: entry URL not set");
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { MessageChannel, Worker, receiveMessageOnPort } = threads();
  const { port1, port2 } = new MessageChannel();
  const fromSource = entryUrl.pathname.endsWith(".ts");
  const w = new Worker(fromSource ? new URL("../scripts/tsx-worker.mjs", entryUrl) : entryUrl, {
    workerData: { tvixSyncService: name, payload, flag, port: port2, tvixEntry: entryUrl.href },
    transferList: [port2],
    stdout: false,
    stderr: false,
  });
  w.unref();
  w.on("error", () => {});
  return {
    call(req) {
      if (Atomics.load(flag, 0) === GONE) throw new SyncCallError(`the ${name} helper thread has stopped`);
      Atomics.store(flag, 0, 0);
      port1.postMessage(req);
      if (Atomics.wait(flag, 0, 0, SERVICE_TIMEOUT_MS) === "timed-out") throw new SyncCallError(`the ${name} helper thread did not answer`);
      const msg = receiveMessageOnPort(port1)?.message as { ok: true; value: unknown } | { ok: false; error: string } | undefined;
      if (!msg) throw new SyncCallError(`the ${name} helper thread has stopped`);
      if (!msg.ok) throw new SyncCallError(msg.error);
      return msg.value;
    },
    close() {
      port1.close();
      void w.terminate();
    },
  };
}

/** Worker side of a sync service: answers each request in turn. */
export async function serveSyncService(data: { tvixSyncService: string; payload: unknown; flag: Int32Array; port: MessagePort }): Promise<void> {
  const answer = (msg: unknown, state: number) => {
    data.port.postMessage(msg);
    Atomics.store(data.flag, 0, state);
    Atomics.notify(data.flag, 0);
  };
  process.on("exit", () => {
    Atomics.store(data.flag, 0, GONE);
    Atomics.notify(data.flag, 0);
  });
  let handler: (req: unknown) => Promise<unknown>;
  try {
    const load = serviceFactories.get(data.tvixSyncService);
    if (!load) throw new Error(`internal error: unknown sync service ${data.tvixSyncService}`);
    handler = await (await load())(data.payload);
  } catch (e) {
    const error = (e as Error)?.message ?? String(e);
    // every request is answered with the start-up failure
    data.port.on("message", () => answer({ ok: false, error }, ANSWERED));
    return;
  }
  let queue = Promise.resolve();
  data.port.on("message", (req: unknown) => {
    queue = queue.then(async () => {
      try {
        answer({ ok: true, value: await handler(req) }, ANSWERED);
      } catch (e) {
        answer({ ok: false, error: (e as Error)?.message ?? String(e) }, ANSWERED);
      }
    });
  });
}
