// The effective configuration: $TVIX_HOME/tvix.conf, then the NIX_CONFIG
// environment variable (nix.conf lines), then --option NAME VALUE, each
// replacing what came before (see core/config.ts for the syntax and
// docs/configuration.md for the settings).
//
// The `store` setting becomes the default store: it is put in $TVIX_STORE
// (unless that is set), which every part of the program and its worker
// threads read.
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { ConfigError, SETTINGS, listOf, parseConfig, setSetting, type ConfigSource, type ConfigWarning } from "../core/config";
import { tvixHome } from "../stores/url";
import { UserError } from "./errors";

export class Settings {
  constructor(private readonly values: Map<string, string>, readonly files: string[]) {}
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
}

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

/** The configuration file: $TVIX_HOME/tvix.conf. */
export function configFile(): string {
  return join(tvixHome(), "tvix.conf");
}

/** Loads the configuration; warnings (unknown settings) are printed to stderr. */
export function loadSettings(cliOptions: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): Settings {
  const values = new Map<string, string>();
  const warnings: ConfigWarning[] = [];
  const files: string[] = [];
  try {
    const file = configFile();
    if (existsSync(file)) {
      files.push(file);
      parseConfig(readFileSync(file, "utf8"), fileSource(file), values, warnings);
    }
    if (env.NIX_CONFIG) parseConfig(env.NIX_CONFIG, { name: "NIX_CONFIG" }, values, warnings);
    for (const [k, v] of Object.entries(cliOptions)) setSetting(k, v, "--option", values, warnings);
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message);
    throw new UserError(`cannot read the configuration: ${(e as Error).message}`);
  }
  for (const w of warnings) process.stderr.write(`warning: ${w.message}\n`);
  return new Settings(values, files);
}

let current: Settings | null = null;

/** Loads the configuration for this run (with the command line's --option values) and applies `store`. */
export function initSettings(cliOptions: Record<string, string>): Settings {
  current = loadSettings(cliOptions);
  const store = current.get("store");
  if (store && !process.env.TVIX_STORE) process.env.TVIX_STORE = store;
  return current;
}

/** This run's configuration (loaded on first use when the CLI did not load it). */
export function settings(): Settings {
  return (current ??= loadSettings());
}

/** The settings the evaluator reads, as --option pairs for an evaluation request. */
export function evalOptions(): Record<string, string> {
  const s = settings();
  const out: Record<string, string> = {};
  for (const k of ["tarball-ttl", "max-call-depth", "abort-on-warn"]) if (s.isSet(k)) out[k] = s.get(k);
  return out;
}
