// Test harness for the daemon: starts `tvix store daemon` (from source) and
// a real `nix-daemon` (C++ Nix 2.8) side by side, each on a store of its
// own, and runs Nix clients against either.
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, oracleScript } from "./helpers";

export const NIX_CONFIG = "substituters =\nsandbox = false\nexperimental-features = nix-command\n";

export interface RunningDaemon {
  name: string;
  socket: string;
  /** The file system root clients pass as ?root=. */
  root: string;
  /** The --store URL for clients. */
  url: string;
  proc: ChildProcess;
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function waitFor(what: string, check: () => boolean, log: () => string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`${what} did not start:\n${log()}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

function track(name: string, proc: ChildProcess, socket: string, root: string): RunningDaemon {
  let log = "";
  proc.stderr?.on("data", (d) => (log += d));
  proc.stdout?.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return {
    name,
    socket,
    root,
    url: `unix://${socket}?root=${root}`,
    proc,
    log: () => log,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null && !proc.killed) proc.kill(signal);
      return exited;
    },
  };
}

/** `tvix store daemon` on a local store under `dir`. */
export async function startTvixDaemon(dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, "tvix.sock");
  const store = join(dir, "store");
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", join(repoRoot, "cmd/main.ts"), "store", "daemon", "--store", `local://${store}?fsync=false`, "--listen", `unix://${socket}`, ...extra],
    { cwd: repoRoot, env: { ...process.env, TVIX_HOME: join(dir, "home"), ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const d = track("tvix", proc, socket, join(store, "root"));
  await waitFor("tvix store daemon", () => /serving/.test(d.log()) || proc.exitCode !== null, d.log);
  if (proc.exitCode !== null) throw new Error(`tvix store daemon exited:\n${d.log()}`);
  return d;
}

/** C++ Nix 2.8's nix-daemon on a store rooted at `dir`/root. */
export async function startNixDaemon(dir: string, options: string[][] = []): Promise<RunningDaemon> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, "nix.sock");
  const root = join(dir, "root");
  const args = ["--option", "store", `local?root=${root}`];
  for (const [k, v] of options) args.push("--option", k, v);
  const proc = spawn("nix-daemon", args, { env: { ...process.env, NIX_CONFIG, NIX_DAEMON_SOCKET_PATH: socket }, stdio: ["ignore", "pipe", "pipe"] });
  const d = track("nix", proc, socket, root);
  await waitFor("nix-daemon", () => existsSync(socket) || proc.exitCode !== null, d.log);
  return d;
}

export type Run = SpawnSyncReturns<string>;

/** Runs a Nix 2.8 client (nix-store, nix, ...) against a daemon. */
export function client(d: RunningDaemon, cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Run {
  return spawnSync(cmd, args, {
    encoding: "utf8",
    input: opts.input,
    env: { ...process.env, NIX_CONFIG, NIX_REMOTE: d.url, ...opts.env },
    maxBuffer: 1 << 28,
  });
}

/** The same, with bytes out (NARs, exports). */
export function clientBytes(d: RunningDaemon, cmd: string, args: string[], input?: Buffer): SpawnSyncReturns<Buffer> {
  return spawnSync(cmd, args, { input, env: { ...process.env, NIX_CONFIG, NIX_REMOTE: d.url }, maxBuffer: 1 << 28 });
}

/** Runs the Nix 2.26 oracle's `nix` against a daemon. */
export function oracle(d: RunningDaemon, args: string[]): Run {
  return spawnSync(oracleScript, ["nix", "--store", d.url, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
}

export function ok(r: Run, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}
