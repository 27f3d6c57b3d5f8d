// Worker entry used when running from TypeScript sources (tsx): registers the
// tsx loader inside the worker thread, then enters the program's main module.
// (Node 20 does not apply --import loader hooks to a worker's entry module.)
import { register } from "tsx/esm/api";
import { workerData } from "node:worker_threads";
register();
await import(workerData.tvixEntry);
