// Configuration in nix.conf's syntax: `name = value` lines, `#` comments,
// values split on whitespace for list settings, `extra-NAME = ...` adding
// to a list, `include FILE` and `!include FILE` (the latter silent when the
// file is missing). Parsing and the effective values only: the CLI reads the
// files (cmd/settings.ts); builders/ and daemon/ convert the values.

export class ConfigError extends Error {}

export type SettingType = "string" | "strings" | "int" | "bool" | "jobs" | "sandbox" | "sandbox-backend";

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
  "require-sigs": {
    type: "bool",
    default: "true",
    description: "Substitutes, paths imported by the daemon and paths copied into a store that is not a binary cache must be signed by a trusted-public-keys key or be content-addressed (as Nix); `tvix copy --no-check-sigs` skips the check once.",
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
    description: "Run builds in a sandbox: true, false, or relaxed (derivations with __noChroot = true run outside it). `bwrap` or `runc` mean true with that sandbox-backend.",
  },
  "sandbox-backend": {
    type: "sandbox-backend",
    default: "bwrap",
    description: "The sandbox builds run in: bwrap (bubblewrap) or runc (an OCI bundle; root only).",
  },
  "sandbox-paths": {
    type: "strings",
    default: "",
    description: "Host paths made visible (read-only) in the sandbox: PATH or INSIDE=HOST-PATH.",
  },
  timeout: {
    type: "int",
    default: "0",
    description: "Seconds a build may run before it is killed; 0: no limit.",
  },
  "max-silent-time": {
    type: "int",
    default: "0",
    description: "Seconds a build may print nothing before it is killed; 0: no limit.",
  },
  "keep-going": {
    type: "bool",
    default: "false",
    description: "Keep building what does not depend on a failed build.",
  },
  "real-store-dir": {
    type: "string",
    default: "",
    description: "Where store paths are written out as files; empty: the store directory itself.",
  },
  "allow-import-from-derivation": {
    type: "bool",
    default: "true",
    description: "Let evaluation build the derivations whose outputs it reads (import, readFile, pathExists of an output path).",
  },
  "allowed-users": {
    type: "strings",
    default: "*",
    description: "Users (and @groups) that may connect to the daemon.",
  },
  "trusted-substituters": {
    type: "strings",
    default: "",
    description: "Substituters that untrusted daemon clients may add with their own substituters setting.",
  },
  "keep-outputs": {
    type: "bool",
    default: "false",
    description: "The garbage collector keeps the outputs of live derivations.",
  },
  "keep-derivations": {
    type: "bool",
    default: "true",
    description: "The garbage collector keeps the derivations of live outputs.",
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
  "pure-eval": {
    type: "bool",
    default: "false",
    description: "Evaluate purely, as Nix: no files outside the store paths the evaluation makes, no search path, getEnv gives \"\", no currentTime or currentSystem, fetchers need a hash.",
  },
  "restrict-eval": {
    type: "bool",
    default: "false",
    description: "Restricted evaluation, as Nix: files only from the search path (-I, NIX_PATH) and the store paths the evaluation makes, getEnv gives \"\", fetchers only from allowed-uris.",
  },
  "allowed-uris": {
    type: "strings",
    default: "",
    description: "URI prefixes fetchers may use with restrict-eval (a prefix matches itself, what is below it at a '/', or a whole scheme such as `github:`).",
  },
  "connect-timeout": {
    type: "int",
    default: "0",
    description: "Seconds a connection to a server (downloads, http and s3 binary caches) may take to be established; 0: the system's limit.",
  },
  "stalled-download-timeout": {
    type: "int",
    default: "300",
    description: "Seconds a download (fetchers, http and s3 binary caches) may wait for data from the server before it fails.",
  },
  "download-attempts": {
    type: "int",
    default: "5",
    description: "Tries of a binary cache request that fails transiently (a failed connection, a timeout, HTTP 408, 429 or 5xx).",
  },
  "abort-on-warn": {
    type: "bool",
    default: "false",
    description: "Make builtins.warn abort evaluation (to find where a warning comes from with --show-trace).",
  },
};

/**
 * Nix settings that tvix accepts in a configuration and ignores, so a
 * nix.conf can be shared.
 */
export const IGNORED_NIX_SETTINGS = new Set([
  "experimental-features", "build-users-group", "auto-optimise-store", "warn-dirty", "show-trace", "extra-platforms", "system-features",
  "netrc-file", "narinfo-cache-negative-ttl", "narinfo-cache-positive-ttl", "log-lines", "min-free", "max-free",
  "http-connections", "flake-registry", "accept-flake-config", "nix-path",
  "sandbox-fallback", "substitute", "secret-key-files",
  "build-dir", "post-build-hook",
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
    // Nix's wording; where it came from is left out as Nix does
    if (!IGNORED_NIX_SETTINGS.has(name)) warnings.push({ message: `unknown setting '${rawName}'` });
    return;
  }
  value = checkValue(name, spec, value, where);
  if (name === "sandbox" && (value === "bwrap" || value === "runc")) {
    // `sandbox = bwrap|runc`: sandboxed, with that backend
    into.set("sandbox-backend", value);
    value = "true";
  }
  if (extra) {
    if (spec.type !== "strings") throw new ConfigError(`${where}: '${rawName}': only list settings take extra-`);
    const prev = into.get(name) ?? spec.default;
    into.set(name, [prev, value].filter((s) => s !== "").join(" "));
  } else into.set(name, value);
}

/** Checks a value and returns its normal form (booleans as true/false, as Nix also takes yes/no/1/0). */
function checkValue(name: string, spec: SettingSpec, value: string, where: string): string {
  const bad = (what: string) => new ConfigError(`${where}: invalid value '${value}' for setting '${name}' (${what})`);
  const asBool = (v: string) => (["true", "yes", "1"].includes(v) ? "true" : ["false", "no", "0"].includes(v) ? "false" : null);
  switch (spec.type) {
    case "int":
      if (!/^\d+$/.test(value)) throw bad("a non-negative integer");
      return value;
    case "bool": {
      const b = asBool(value);
      if (b === null) throw bad("true or false");
      return b;
    }
    case "jobs":
      if (value !== "auto" && !/^\d+$/.test(value)) throw bad("a number or auto");
      return value;
    case "sandbox": {
      if (value === "relaxed" || value === "bwrap" || value === "runc") return value;
      const b = asBool(value);
      if (b === null) throw bad("true, false, relaxed, bwrap or runc");
      return b;
    }
    case "sandbox-backend":
      if (value !== "bwrap" && value !== "runc") throw bad("bwrap or runc");
      return value;
    default:
      return value;
  }
}

/** The effective settings: given values over the defaults. */
export class Settings {
  constructor(
    private readonly values: Map<string, string>,
    /** the files read, in order */
    readonly files: string[] = [],
  ) {}
  get(name: string): string {
    const spec = SETTINGS[name];
    if (!spec) throw new Error(`internal error: unknown setting ${name}`);
    return this.values.get(name) ?? spec.default;
  }
  list(name: string): string[] {
    return listOf(this.get(name));
  }
  int(name: string): number {
    return Number(this.get(name));
  }
  bool(name: string): boolean {
    return this.get(name) === "true";
  }
  /** Whether the setting was given (rather than its default). */
  isSet(name: string): boolean {
    return this.values.has(name);
  }
  /** Every setting with its value, by name. */
  all(): [string, string][] {
    return Object.keys(SETTINGS)
      .sort()
      .map((k) => [k, this.get(k)]);
  }
  /** A copy with more settings applied (name, value pairs as --option; warnings for unknown names). */
  with(options: Iterable<[string, string]>, warnings: ConfigWarning[], where = "--option"): Settings {
    const values = new Map(this.values);
    for (const [k, v] of options) setSetting(k, v, where, values, warnings);
    return new Settings(values, this.files);
  }
}

/** A list setting's items. */
export function listOf(value: string): string[] {
  return value.split(/\s+/).filter((s) => s !== "");
}
