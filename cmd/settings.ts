// The one configuration of every command (eval, build, the repl, the
// daemon): files in the order Nix reads its own, each replacing what came
// before:
//
//   1. the system file, $TVIX_CONF_DIR/tvix.conf (default /etc/tvix/tvix.conf);
//   2. the user's file, $TVIX_HOME/tvix.conf;
//   3. a command's own files (the daemon's $TVIX_HOME/daemon.conf or --config);
//   4. the NIX_CONFIG environment variable (nix.conf lines);
//   5. --option NAME VALUE (then a command's flags, applied by the command).
//
// core/config.ts has the syntax and the settings; builders/settings.ts and
// daemon/settings.ts turn these into what they run with. The `store` setting
// becomes the default store: it is put in $TVIX_STORE (unless that is set),
// which every part of the program and its worker threads read.
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { ConfigError, Settings, parseConfig, setSetting, type ConfigSource, type ConfigWarning } from "../core/config";
import { tvixHome } from "../stores/url";
import type { HttpLimits } from "../stores/http";
import { UserError } from "./errors";

export { Settings };

function fileSource(file: string): ConfigSource {
  return {
    name: file,
    readInclude: (p) => {
      const f = isAbsolute(p) ? p : join(dirname(file), p);
      if (!existsSync(f)) return null;
      return { name: f, text: readFileSync(f, "utf8") };
    },
  };
}

/** The system-wide file: $TVIX_CONF_DIR/tvix.conf. */
export function systemConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.TVIX_CONF_DIR || "/etc/tvix", "tvix.conf");
}

/** The user's file: $TVIX_HOME/tvix.conf. */
export function configFile(): string {
  return join(tvixHome(), "tvix.conf");
}

export interface LoadOptions {
  /** a command's own files, read after the user's file; `required` ones must exist */
  extraFiles?: { path: string; required: boolean }[];
  env?: NodeJS.ProcessEnv;
  /** print no warnings (a worker thread: the main thread printed them) */
  quiet?: boolean;
}

// a warning is printed once per run, however often the configuration is read
const printed = new Set<string>();

function printWarnings(warnings: ConfigWarning[]): void {
  for (const w of warnings) {
    if (printed.has(w.message)) continue;
    printed.add(w.message);
    process.stderr.write(`warning: ${w.message}\n`);
  }
}

/** Loads the configuration; warnings (unknown settings) are printed to stderr. */
export function loadSettings(cliOptions: Record<string, string> = {}, o: LoadOptions = {}): Settings {
  const env = o.env ?? process.env;
  const values = new Map<string, string>();
  const warnings: ConfigWarning[] = [];
  const files: string[] = [];
  const readFile = (file: string, required: boolean) => {
    if (!existsSync(file)) {
      if (required) throw new ConfigError(`configuration file '${file}' does not exist`);
      return;
    }
    files.push(file);
    parseConfig(readFileSync(file, "utf8"), fileSource(file), values, warnings);
  };
  try {
    readFile(systemConfigFile(env), false);
    readFile(configFile(), false);
    for (const f of o.extraFiles ?? []) readFile(f.path, f.required);
    if (env.NIX_CONFIG) parseConfig(env.NIX_CONFIG, { name: "NIX_CONFIG" }, values, warnings);
    for (const [k, v] of Object.entries(cliOptions)) setSetting(k, v, "--option", values, warnings);
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message);
    throw new UserError(`cannot read the configuration: ${(e as Error).message}`);
  }
  if (!o.quiet) printWarnings(warnings);
  return new Settings(values, files);
}

let current: Settings | null = null;
let currentOptions: Record<string, string> = {};

/** Loads the configuration for this run (with the command line's --option values) and applies `store`. */
export function initSettings(cliOptions: Record<string, string>): Settings {
  currentOptions = cliOptions;
  // worker threads (evaluation, helpers) get a copy of the environment: they load the same configuration
  // (cmd/main.ts sets it first, for a worker started before this)
  process.env.TVIX_CLI_OPTIONS = JSON.stringify(cliOptions);
  current = loadSettings(cliOptions);
  const store = current.get("store");
  if (store && !process.env.TVIX_STORE) process.env.TVIX_STORE = store;
  return current;
}

/** This run's configuration (loaded on first use when the CLI did not load it). */
export function settings(): Settings {
  if (current === null) {
    // a worker thread of a run whose main thread loaded (and warned about) the configuration
    const inherited = process.env.TVIX_CLI_OPTIONS;
    let options: Record<string, string> = {};
    try {
      options = JSON.parse(inherited || "{}");
    } catch {}
    current = loadSettings(options, { quiet: inherited !== undefined });
  }
  return current;
}

/** This run's configuration with a command's own files read before NIX_CONFIG and --option. */
export function settingsWithFiles(extraFiles: LoadOptions["extraFiles"]): Settings {
  return loadSettings(currentOptions, { extraFiles });
}

/** The download limits (stores/http.ts) of a configuration. */
export function httpLimitsFrom(s: Settings): HttpLimits {
  return { connectTimeout: s.int("connect-timeout"), stalledDownloadTimeout: s.int("stalled-download-timeout"), downloadAttempts: s.int("download-attempts") };
}

/** The settings the evaluator reads, as --option pairs for an evaluation request. */
export function evalOptions(): Record<string, string> {
  const s = settings();
  const out: Record<string, string> = {};
  for (const k of ["tarball-ttl", "max-call-depth", "abort-on-warn", "allow-import-from-derivation", "pure-eval", "restrict-eval", "allowed-uris"]) if (s.isSet(k)) out[k] = s.get(k);
  return out;
}
