// What a build runs with, from the one configuration (core/config.ts; the
// CLI reads the files in cmd/settings.ts) and then a command's flags:
//
//   sandbox = true | relaxed          (false: not implemented, builds always run sandboxed)
//   sandbox-backend = bwrap | runc    (`sandbox = bwrap|runc` sets it too)
//   substituters, trusted-public-keys, require-sigs, max-jobs, cores,
//   timeout, max-silent-time, keep-going, sandbox-paths, real-store-dir,
//   builders, builders-use-substitutes, fallback, post-build-upload
import { cpus } from "node:os";
import type { Settings } from "../core/config";

export interface BuildSettings {
  sandbox: "bwrap" | "runc";
  /** `sandbox`: true, false or relaxed */
  sandboxMode: "true" | "false" | "relaxed";
  substituters: string[];
  trustedPublicKeys: string[];
  requireSigs: boolean;
  maxJobs: number;
  cores: number;
  timeout: number;
  maxSilentTime: number;
  keepGoing: boolean;
  sandboxPaths: [string, string][];
  realStoreDir?: string;
  /** The `builders` value as written (parsed by builders/machines.ts when a session opens). */
  builders: string;
  buildersUseSubstitutes: boolean;
  fallback: boolean;
  /** A store URL outputs are copied to after each build. */
  postBuildUpload?: string;
}

export class SettingsError extends Error {}

/** The build settings of a configuration. */
export function buildSettingsFrom(s: Settings): BuildSettings {
  const mode = s.get("sandbox");
  return {
    sandbox: s.get("sandbox-backend") === "runc" ? "runc" : "bwrap",
    sandboxMode: mode === "false" ? "false" : mode === "relaxed" ? "relaxed" : "true",
    substituters: s.list("substituters"),
    trustedPublicKeys: s.list("trusted-public-keys"),
    requireSigs: s.bool("require-sigs"),
    maxJobs: s.get("max-jobs") === "auto" ? cpus().length : s.int("max-jobs"),
    cores: s.int("cores") || cpus().length,
    timeout: s.int("timeout"),
    maxSilentTime: s.int("max-silent-time"),
    keepGoing: s.bool("keep-going"),
    sandboxPaths: s.list("sandbox-paths").map((w) => {
      const eq = w.indexOf("=");
      return eq < 0 ? [w, w] : [w.slice(eq + 1), w.slice(0, eq)];
    }),
    realStoreDir: s.get("real-store-dir") || undefined,
    builders: s.get("builders"),
    buildersUseSubstitutes: s.bool("builders-use-substitutes"),
    fallback: s.bool("fallback"),
    postBuildUpload: s.get("post-build-upload") || undefined,
  };
}
