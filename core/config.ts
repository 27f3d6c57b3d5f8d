// Configuration in nix.conf's syntax: `name = value` lines, `#` comments,
// values split on whitespace for list settings, `extra-NAME = ...` adding
// to a list, `include FILE` and `!include FILE` (the latter silent when the
// file is missing). Parsing only: the CLI finds the files (cmd/settings.ts).

export class ConfigError extends Error {}

export type SettingType = "string" | "strings" | "int" | "bool" | "jobs" | "sandbox";

export interface SettingSpec {
  type: SettingType;
  default: string;
  description: string;
}

/** The settings tvix reads. docs/configuration.md documents each (a test keeps the two in step). */
export const SETTINGS: Record<string, SettingSpec> = {
  store: {
    type: "string",
    default: "",
    description: "The store commands use when no --store is given (and $TVIX_STORE is unset). Empty: the local store in $TVIX_HOME/store.",
  },
  substituters: {
    type: "strings",
    default: "",
    description: "Binary caches (store URLs) to fetch store paths from instead of building them, in order of preference.",
  },
  "trusted-public-keys": {
    type: "strings",
    default: "",
    description: "Keys (name:base64) whose signatures make a path from a binary cache trusted. The default of `tvix copy --trusted-public-keys`.",
  },
  cores: {
    type: "int",
    default: "0",
    description: "CPU cores a build may use (NIX_BUILD_CORES); 0 means all of them.",
  },
  "max-jobs": {
    type: "jobs",
    default: "1",
    description: "Builds run at once on this machine; `auto` is one per core, 0 builds only remotely.",
  },
  sandbox: {
    type: "sandbox",
    default: "true",
    description: "Run builds in a sandbox: true, false, or relaxed (derivations with __noChroot = true run outside it).",
  },
  "trusted-users": {
    type: "strings",
    default: "root",
    description: "Users (and @groups) the daemon trusts to set any setting and import unsigned paths.",
  },
  builders: {
    type: "string",
    default: "",
    description: "Remote build machines, as in Nix: `URI SYSTEMS KEY MAX-JOBS SPEED FEATURES MANDATORY PUBKEY` entries separated by `;` or newlines, or `@FILE`.",
  },
  "builders-use-substitutes": {
    type: "bool",
    default: "false",
    description: "Remote machines fetch a build's missing inputs from their own substituters instead of receiving them from here.",
  },
  fallback: {
    type: "bool",
    default: "false",
    description: "With max-jobs = 0, build here when every remote machine that could build a derivation has failed.",
  },
  "post-build-upload": {
    type: "string",
    default: "",
    description: "A store URL each build's outputs (with their closure) are copied to after the build; empty: none.",
  },
  "tarball-ttl": {
    type: "int",
    default: "3600",
    description: "Seconds a download (fetchTarball, fetchurl without a hash) is reused before it is fetched again.",
  },
  "max-call-depth": {
    type: "int",
    default: "10000",
    description: "The evaluator's limit on nested function calls before it reports a stack overflow.",
  },
  "abort-on-warn": {
    type: "bool",
    default: "false",
    description: "Make builtins.warn abort evaluation (to find where a warning comes from with --show-trace).",
  },
};

/**
 * Nix settings that tvix accepts in a configuration and ignores here, so a
 * nix.conf can be shared; some of them (and real-store-dir) are build
 * settings that builders/settings.ts reads.
 */
export const IGNORED_NIX_SETTINGS = new Set([
  "experimental-features", "build-users-group", "auto-optimise-store", "keep-outputs", "keep-derivations",
  "require-sigs", "allowed-users", "connect-timeout", "warn-dirty", "show-trace", "extra-platforms", "system-features",
  "netrc-file", "narinfo-cache-negative-ttl", "narinfo-cache-positive-ttl", "log-lines", "min-free", "max-free",
  "http-connections", "download-attempts", "flake-registry", "accept-flake-config", "nix-path", "sandbox-paths",
  "sandbox-fallback", "substitute", "trusted-substituters", "secret-key-files", "keep-going", "timeout", "max-silent-time",
  "build-dir", "real-store-dir", "post-build-hook", "pure-eval", "restrict-eval", "allow-import-from-derivation",
]);

/** Where each value came from (for messages): a file:line, NIX_CONFIG, or --option. */
export interface ConfigSource {
  name: string;
  /** reads an included file relative to this source; null when it does not exist */
  readInclude?: (path: string) => { name: string; text: string } | null;
}

export interface ConfigWarning {
  message: string;
}

/**
 * Applies the settings of `text` to `into` (later values replace earlier
 * ones; extra-NAME appends). Unknown names are reported in `warnings`.
 */
export function parseConfig(text: string, source: ConfigSource, into: Map<string, string>, warnings: ConfigWarning[], depth = 0): void {
  if (depth > 16) throw new ConfigError(`${source.name}: includes nested too deeply`);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*$/, "").trim();
    if (line === "") continue;
    const where = `${source.name}:${i + 1}`;
    const inc = /^(!?)include\s+(.+)$/.exec(line);
    if (inc) {
      const file = inc[2].trim();
      const got = source.readInclude?.(file) ?? null;
      if (got === null) {
        if (inc[1] === "!") continue;
        throw new ConfigError(`${where}: included file '${file}' does not exist`);
      }
      parseConfig(got.text, { ...source, name: got.name }, into, warnings, depth + 1);
      continue;
    }
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new ConfigError(`${where}: expected 'name = value', got '${line}'`);
    setSetting(m[1], m[2].trim(), where, into, warnings);
  }
}

/** Sets one setting (from a line, NIX_CONFIG or --option), checking its name and value. */
export function setSetting(rawName: string, value: string, where: string, into: Map<string, string>, warnings: ConfigWarning[]): void {
  const extra = rawName.startsWith("extra-");
  const name = extra ? rawName.slice("extra-".length) : rawName;
  const spec = SETTINGS[name];
  if (!spec) {
    if (!IGNORED_NIX_SETTINGS.has(name)) warnings.push({ message: `unknown setting '${rawName}' (${where})` });
    return;
  }
  checkValue(name, spec, value, where);
  if (extra) {
    if (spec.type !== "strings") throw new ConfigError(`${where}: '${rawName}': only list settings take extra-`);
    const prev = into.get(name) ?? spec.default;
    into.set(name, [prev, value].filter((s) => s !== "").join(" "));
  } else into.set(name, value);
}

function checkValue(name: string, spec: SettingSpec, value: string, where: string): void {
  const bad = (what: string) => new ConfigError(`${where}: invalid value '${value}' for setting '${name}' (${what})`);
  switch (spec.type) {
    case "int":
      if (!/^\d+$/.test(value)) throw bad("a non-negative integer");
      break;
    case "bool":
      if (value !== "true" && value !== "false") throw bad("true or false");
      break;
    case "jobs":
      if (value !== "auto" && !/^\d+$/.test(value)) throw bad("a number or auto");
      break;
    case "sandbox":
      if (!["true", "false", "relaxed"].includes(value)) throw bad("true, false or relaxed");
      break;
  }
}

/** A list setting's items. */
export function listOf(value: string): string[] {
  return value.split(/\s+/).filter((s) => s !== "");
}
