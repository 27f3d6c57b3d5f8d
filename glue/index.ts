// Puts an evaluator together with the store: the store-aware EvalIO, the
// known derivations, and the builtins that need them (derivations, path
// adding, fetchers). The CLI, the REPL and the tests all get theirs here.
import type { EvalHost } from "../eval/driver";
import type { ParseCacheStorage } from "../eval/io";
import { StoreIO, type StoreIOOptions } from "./store-io";
import { KnownDerivations } from "./known-derivations";
import { derivationBuiltins } from "./derivation";
import { storeBuiltins } from "./store-builtins";
import { fetcherBuiltins } from "./fetchers";
import { ParseCacheFiles, importCacheDir } from "./parse-cache-files";
import type { SyncStoreReader } from "./store-trees";
import type { Glue } from "./context";

export interface EvalSetup {
  storeDir?: string;
  /** Record what the evaluation adds, for writing it to a store afterwards (flush.ts). */
  writes?: boolean;
  /** The configured store, read when evaluation reads a store path it did not add. */
  store?: SyncStoreReader | null;
  /** The parse cache's storage (default: files under the cache directory; null: none). */
  parseCache?: ParseCacheStorage | null;
  /** Where hashes of imported host files are kept by their stamps (default: files under the cache directory; null: none). */
  importCache?: ParseCacheStorage | null;
  /** Builds during evaluation (import from derivation), or why they cannot happen (StoreIOOptions.realise). */
  realise?: StoreIOOptions["realise"];
  /** stalled-download-timeout, for git fetches (the other downloads read it in stores/http.ts) */
  stalledDownloadTimeout?: number;
}

export function makeEvalHost(setup: EvalSetup = {}): { host: EvalHost; glue: Glue } {
  const io = new StoreIO({
    storeDir: setup.storeDir ?? "/nix/store",
    writes: setup.writes ?? false,
    store: setup.store ?? null,
    realise: setup.realise,
    parseCache: setup.parseCache === null ? undefined : (setup.parseCache ?? new ParseCacheFiles()),
    importCache: setup.importCache === null ? undefined : (setup.importCache ?? new ParseCacheFiles(importCacheDir())),
  });
  const glue: Glue = { io, drvs: new KnownDerivations((p) => io.readTextFile(p)), stalledDownloadTimeout: setup.stalledDownloadTimeout };
  const host: EvalHost = {
    io,
    extensions: [derivationBuiltins(glue), storeBuiltins(glue), fetcherBuiltins(glue)],
    home: process.env.HOME,
  };
  return { host, glue };
}

export type { Glue } from "./context";
export { StoreIO, type PendingPath } from "./store-io";
