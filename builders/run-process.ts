// Runs a sandbox process: stdin is /dev/null, stdout and stderr share one
// pipe (as a build's log is one stream in Nix), output goes to the log
// callback, and the process is killed on --timeout, --max-silent-time or an
// abort.
import { spawn } from "node:child_process";
import { BuildError, type BuildEvents, type BuildLimits } from "./build-request";

export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Extra file descriptors from fd 3 on: bytes written to a pipe that is then closed. */
  extraFds?: Uint8Array[];
  /** How to stop the process (default: SIGKILL to it). */
  kill?: (pid: number) => void;
}

/** Runs argv; resolves when it exits; rejects with a BuildError on a limit. */
export function runSandboxProcess(argv: string[], opts: RunOptions, events: BuildEvents = {}, limits: BuildLimits = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const extra = opts.extraFds ?? [];
    // `exec "$@" 2>&1` gives the command one pipe for both streams
    const child = spawn("/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", ...argv], {
      env: opts.env,
      uid: opts.uid,
      gid: opts.gid,
      stdio: ["ignore", "pipe", "ignore", ...extra.map(() => "pipe" as const)],
    });
    for (let i = 0; i < extra.length; i++) {
      const s = child.stdio[3 + i] as NodeJS.WritableStream | null;
      s?.on("error", () => {}); // the sandbox may not read it when it fails early
      s?.end(Buffer.from(extra[i]));
    }
    let failure: BuildError | null = null;
    let silentTimer: NodeJS.Timeout | null = null;
    let totalTimer: NodeJS.Timeout | null = null;
    const stop = (err: BuildError) => {
      if (failure) return;
      failure = err;
      try {
        if (opts.kill && child.pid) opts.kill(child.pid);
        else child.kill("SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const armSilent = () => {
      if (!limits.maxSilentTime) return;
      if (silentTimer) clearTimeout(silentTimer);
      silentTimer = setTimeout(() => stop(new BuildError(`timed out after ${limits.maxSilentTime} seconds of silence`, "silent")), limits.maxSilentTime * 1000);
    };
    if (limits.timeout) totalTimer = setTimeout(() => stop(new BuildError(`timed out after ${limits.timeout} seconds`, "timeout")), limits.timeout * 1000);
    armSilent();
    const onAbort = () => stop(new BuildError("interrupted", "interrupted"));
    limits.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout!.on("data", (c: Buffer) => {
      armSilent();
      events.onLog?.(c);
    });
    child.on("error", (e) => {
      failure ??= new BuildError(`cannot start the sandbox: ${e.message}`, "sandbox");
    });
    child.on("close", (code, signal) => {
      if (silentTimer) clearTimeout(silentTimer);
      if (totalTimer) clearTimeout(totalTimer);
      limits.signal?.removeEventListener("abort", onAbort);
      if (failure) reject(failure);
      else resolve({ code, signal });
    });
  });
}
