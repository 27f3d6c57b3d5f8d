// What the glue builtins share in one evaluation: the store-aware EvalIO and
// the derivations the evaluation knows.
import type { StoreIO } from "./store-io";
import type { KnownDerivations } from "./known-derivations";

export interface Glue {
  io: StoreIO;
  drvs: KnownDerivations;
  /** seconds a git fetch over http may go without data (stalled-download-timeout; 0: no limit) */
  stalledDownloadTimeout?: number;
}
