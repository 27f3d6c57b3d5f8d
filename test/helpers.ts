// Shared test helpers: running the CLI from source, finding the Nix oracles.
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const sharedDir = join(repoRoot, "..", "shared");

/** Runs `tvix ARGS` from source (through tsx). */
export function runTvix(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], {
    encoding: "utf8",
    input: opts.input,
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd ?? repoRoot,
    maxBuffer: 256 * 1024 * 1024,
  });
}

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
}

/** C++ Nix 2.8 from Debian's nix-bin, if installed: the skip reason otherwise. */
export const nix28 = {
  available: onPath("nix-store") && onPath("nix-instantiate"),
  skip: onPath("nix-store") ? false : "C++ Nix not installed (apt-get install nix-bin)",
};

/** The Nix 2.26 oracle (../shared/tools/nix-oracle). */
export const oracleScript = join(sharedDir, "tools", "nix-oracle");
export const nix226 = {
  available: existsSync(oracleScript) && existsSync("/opt/nix-oracle/usr/bin/nix"),
  skip: existsSync("/opt/nix-oracle/usr/bin/nix") ? false : "Nix 2.26 oracle not installed (../shared/tools/install-nix-oracle.sh)",
  run(args: string[], opts: { input?: string; cwd?: string } = {}): SpawnSyncReturns<string> {
    return spawnSync(oracleScript, args, { encoding: "utf8", input: opts.input, cwd: opts.cwd, maxBuffer: 256 * 1024 * 1024 });
  },
};

/** runTvix with stdout and stderr as bytes (for output that is not UTF-8). */
export function runTvixBytes(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<Buffer> {
  return spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], {
    input: opts.input,
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd ?? repoRoot,
    maxBuffer: 256 * 1024 * 1024,
  });
}
