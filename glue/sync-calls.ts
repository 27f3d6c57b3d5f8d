// Fetching is asynchronous (HTTP, decompression) but evaluation is not:
// the CLI runs these on a helper thread and blocks the evaluator until they
// answer (cmd/bigstack.ts callSync). This module names them and their types;
// `setSyncRunner` plugs in the thread machinery.
import type { NarNode } from "../core/nar";
import type { DownloadRequest, Downloaded } from "./fetch/download";
import type { UnpackRequest } from "./fetch/unpack";
import type { RealiseRequest, Realised } from "./realise";

/** The asynchronous operations the glue needs, with their requests and answers. */
export interface SyncCalls {
  download(req: DownloadRequest): Promise<Downloaded>;
  unpack(req: UnpackRequest): Promise<NarNode>;
  realise(req: RealiseRequest): Promise<Realised>;
}

/** Where each sync call's implementation lives (loaded on the helper thread). */
export const SYNC_CALL_MODULES: { [K in keyof SyncCalls]: () => Promise<SyncCalls[K]> } = {
  download: async () => (await import("./fetch/download")).download,
  unpack: async () => (await import("./fetch/unpack")).unpackArchive,
  realise: async () => (await import("./realise")).realiseDerivation,
};

type Runner = (name: keyof SyncCalls, req: unknown) => unknown;
let runner: Runner | null = null;

export function setSyncRunner(r: Runner): void {
  runner = r;
}

/** Runs one of the calls and waits for its answer. Throws its error. */
export function callSync<K extends keyof SyncCalls>(name: K, req: Parameters<SyncCalls[K]>[0]): Awaited<ReturnType<SyncCalls[K]>> {
  if (!runner) throw new Error(`not implemented: ${name} outside the tvix CLI`);
  return runner(name, req) as Awaited<ReturnType<SyncCalls[K]>>;
}
