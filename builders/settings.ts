// Build settings: Nix-style `name = value` lines from the config file
// ($TVIX_CONF, else $XDG_CONFIG_HOME/tvix/tvix.conf, else
// ~/.config/tvix/tvix.conf), overridden by `--option name value` and by
// command-line flags.
//
//   sandbox = bwrap | runc           (default bwrap)
//   substituters = URL URL...        caches tried before building (default none)
//   trusted-public-keys = KEY...     substitutes must be signed by one of them
//   require-sigs = true | false      (default true)
//   max-jobs = N                     parallel builds (default 1)
//   cores = N                        NIX_BUILD_CORES (default: this machine's CPUs)
//   timeout = S, max-silent-time = S (default 0: none)
//   keep-going = true | false
//   sandbox-paths = /bin/sh=/path/to/sh /other   extra host paths in the sandbox
//   real-store-dir = DIR             where store paths are written out (default the store directory)
//
// The remote-build settings (builders, builders-use-substitutes, fallback,
// post-build-upload) are not read here: they belong to the CLI's
// configuration ($TVIX_HOME/tvix.conf, NIX_CONFIG, --option; core/config.ts),
// which the caller passes to withRemoteSettings.
import { existsSync, readFileSync } from "node:fs";
import { homedir, cpus } from "node:os";
import { join } from "node:path";

export interface BuildSettings {
  sandbox: "bwrap" | "runc";
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

export function configFilePath(): string {
  if (process.env.TVIX_CONF) return process.env.TVIX_CONF;
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "tvix", "tvix.conf");
}

/** Parses `name = value` lines (# comments). */
export function parseConfig(text: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const eq = line.indexOf("=");
    if (eq < 0) throw new SettingsError(`${where}:${i + 1}: expected 'name = value'`);
    out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  });
  return out;
}

const KNOWN = new Set([
  "sandbox", "substituters", "trusted-public-keys", "require-sigs", "max-jobs", "cores", "timeout", "max-silent-time",
  "keep-going", "sandbox-paths", "real-store-dir", "extra-substituters", "extra-trusted-public-keys",
]);

/** Whether `--option NAME` is a build setting (the others are the evaluator's). */
export function isBuildSetting(name: string): boolean {
  return KNOWN.has(name);
}

/** Settings from the config file and `--option` pairs (these win). Unknown names are errors. */
export function loadSettings(options: Record<string, string> = {}): BuildSettings {
  const merged = new Map<string, string>();
  const file = configFilePath();
  if (existsSync(file)) for (const [k, v] of parseConfig(readFileSync(file, "utf8"), file)) merged.set(k, v);
  for (const [k, v] of Object.entries(options)) merged.set(k, v);
  for (const k of merged.keys()) if (!KNOWN.has(k)) throw new SettingsError(`unknown setting '${k}'`);
  const words = (k: string) => (merged.get(k) ?? "").split(/\s+/).filter(Boolean);
  const num = (k: string, d: number) => {
    const v = merged.get(k);
    if (v === undefined) return d;
    if (!/^\d+$/.test(v)) throw new SettingsError(`setting '${k}' must be a number, not '${v}'`);
    return Number(v);
  };
  const bool = (k: string, d: boolean) => {
    const v = merged.get(k);
    if (v === undefined) return d;
    if (v !== "true" && v !== "false") throw new SettingsError(`setting '${k}' must be true or false, not '${v}'`);
    return v === "true";
  };
  const sandbox = merged.get("sandbox") ?? "bwrap";
  if (sandbox !== "bwrap" && sandbox !== "runc") throw new SettingsError(`setting 'sandbox' must be 'bwrap' or 'runc', not '${sandbox}'`);
  const maxJobs = merged.get("max-jobs") === "auto" ? cpus().length : num("max-jobs", 1);
  return {
    sandbox,
    substituters: [...words("substituters"), ...words("extra-substituters")],
    trustedPublicKeys: [...words("trusted-public-keys"), ...words("extra-trusted-public-keys")],
    requireSigs: bool("require-sigs", true),
    maxJobs,
    cores: num("cores", 0) || cpus().length,
    timeout: num("timeout", 0),
    maxSilentTime: num("max-silent-time", 0),
    keepGoing: bool("keep-going", false),
    sandboxPaths: words("sandbox-paths").map((w) => {
      const eq = w.indexOf("=");
      return eq < 0 ? [w, w] : [w.slice(eq + 1), w.slice(0, eq)];
    }),
    realStoreDir: merged.get("real-store-dir"),
    builders: "",
    buildersUseSubstitutes: false,
    fallback: false,
  };
}

/** The remote-build settings from the configuration (`get` returns a setting's checked value or its default). */
export function withRemoteSettings(s: BuildSettings, get: (name: string) => string): BuildSettings {
  return {
    ...s,
    builders: get("builders"),
    buildersUseSubstitutes: get("builders-use-substitutes") === "true",
    fallback: get("fallback") === "true",
    postBuildUpload: get("post-build-upload") || undefined,
  };
}
