// Starts bwrap sandboxes from a small helper process instead of from Node.
//
// Node forks its whole process for every child (~9 ms here with ~190 MB
// resident, blocking the main thread); a shell forks in ~1.5 ms. So one
// long-lived /bin/sh reads requests (a directory per line) and, for each,
// makes a FIFO for the log and runs bwrap with stdin /dev/null and stdout
// and stderr on the FIFO, reporting "DIR fifo", "DIR pid N" and "DIR exit"
// lines. bwrap reads its options (the environment too, as --setenv) from
// DIR/args, the seccomp program from DIR/seccomp; the command comes from
// DIR/cmd, a `set -- 'ARG'...` line sourced by the subshell that then
// execs bwrap (bwrap takes no command from --args; this saves the xargs
// process a build used to cost; a line that did not parse would end only
// that subshell, and the build would fail as not started), and the
// command's exit status from bwrap's --json-status-fd, in DIR/status. When
// its input ends (we exited or died) the helper kills its process group: no
// build outlives us.
//
// The helper's stderr is ours, which may be a pipe nobody reads any more (a
// --stdio daemon whose ssh session ended). dash's \`wait\` reports a job
// ended by a signal ("Killed") on stderr: written there, the report would
// end the subshell by SIGPIPE before its "DIR exit" line, and a build we
// stopped would never settle. So that \`wait\` reports to /dev/null.
//
// mkfifo is a program (~3 ms to run here): the helper makes the next
// build's FIFO ahead of time in a spool directory (a "+PATH" line, answered
// "+PATH"), which we rename to DIR/log before asking for the build; the
// helper makes one itself only when none was ready (the first build).
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { BuildError, type BuildEvents, type BuildLimits } from "./build-request";
import type { RunResult } from "./run-process";

const SCRIPT = `
B="$1"
while IFS= read -r d; do
  case "$d" in
    +*) (mkfifo -m 600 "\${d#+}" && echo "$d") & continue ;;
  esac
  (
    if [ ! -p "$d/log" ] && ! mkfifo -m 600 "$d/log"; then echo "$d exit"; exit; fi
    echo "$d fifo"
    ( . "$d/cmd" && exec "$B" --args 3 --json-status-fd 5 -- "$@" ) 3<"$d/args" 4<"$d/seccomp" 5>"$d/status" </dev/null >"$d/log" 2>&1 &
    echo "$d pid $!"
    wait $! 2>/dev/null
    echo "$d exit"
  ) &
done
kill -KILL 0
`;

interface Pending {
  events: BuildEvents;
  limits: BuildLimits;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
  pid?: number;
  failure?: BuildError;
  /** The command's exit status; null when the sandbox never ran it. */
  exit?: number | null;
  socket?: Socket;
  logEnded: boolean;
  silentTimer?: NodeJS.Timeout;
  totalTimer?: NodeJS.Timeout;
  onAbort?: () => void;
}

/** The command's exit status from bwrap's --json-status-fd output, or null when it never ran. */
function exitCode(dir: string): number | null {
  let text: string;
  try {
    text = readFileSync(join(dir, "status"), "utf8");
  } catch {
    return null;
  }
  const m = /"exit-code": *(\d+)/.exec(text);
  return m ? Number(m[1]) : null;
}

/** One shell word for any string without NUL: single quotes, each ' as '\\''. */
function shellQuote(a: string): string {
  return `'${a.replaceAll("'", "'\\''")}'`;
}

/** The spawners of this process, one per bwrap, build user and scratch directory. */
const spawners = new Map<string, BwrapSpawner>();

/** The process's spawner for these (made on first use: one helper serves every build). */
export function sharedSpawner(bwrap: string, ids: { uid?: number; gid?: number }, spoolBase: string): BwrapSpawner {
  const key = JSON.stringify([bwrap, ids.uid, ids.gid, spoolBase]);
  let s = spawners.get(key);
  if (!s) spawners.set(key, (s = new BwrapSpawner(bwrap, ids, spoolBase)));
  return s;
}

/** Removes the spawners' spare FIFOs (when this process is done building); the helpers stay up for later builds. */
export function releaseSpawners(): void {
  for (const s of spawners.values()) s.release();
}

export class BwrapSpawner {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<string, Pending>();
  private buffered = "";
  private dead: Error | null = null;
  /** A directory for spare FIFOs (made when the first is asked for), or null. */
  private spool: string | null = null;
  private spares: string[] = [];
  /** The spare FIFO the helper is making, if any. */
  private asked: string | null = null;
  private spareCount = 0;

  /** `spoolBase`: where spare FIFOs are made, on the file system of the request directories (else none is used). */
  constructor(
    private readonly bwrap: string,
    private readonly ids: { uid?: number; gid?: number },
    private readonly spoolBase: string | null = null,
  ) {}

  /** Asks the helper for the next spare FIFO, unless one is ready or being made. */
  private askSpare(): void {
    if (!this.child || this.spoolBase === null || this.spares.length > 0 || this.asked !== null) return;
    if (this.spool === null) {
      try {
        mkdirSync(this.spoolBase, { recursive: true });
        const dir = mkdtempSync(join(this.spoolBase, "fifos-"));
        chmodSync(dir, 0o700);
        if (this.ids.uid !== undefined) chownSync(dir, this.ids.uid, this.ids.gid ?? -1);
        this.spool = dir;
      } catch {
        return; // the helper makes each FIFO itself
      }
    }
    const path = join(this.spool, String(this.spareCount++));
    if (path.includes("\n")) return;
    this.asked = path;
    this.child.stdin!.write(`+${path}\n`);
  }

  /**
   * Removes the spare FIFOs' directory. A FIFO still being made then fails
   * (its directory is gone) or goes with it; its answer is ignored (waiting
   * for it could outlast the process: a build that fails at once ends the
   * session within the ~3 ms mkfifo takes).
   */
  release(): void {
    this.asked = null;
    this.spares = [];
    if (this.spool === null) return;
    try {
      rmSync(this.spool, { recursive: true, force: true });
    } catch {}
    this.spool = null;
  }

  /**
   * Starts the helper ahead of the first build (and has it make that
   * build's FIFO): the fork blocks Node for ~10 ms, which the caller puts
   * where Node waits anyway. A helper that cannot start fails the builds
   * as it would have.
   */
  warmUp(): void {
    if (this.dead) return;
    try {
      this.start();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    const c = spawn("/bin/sh", ["-c", SCRIPT, "sh", this.bwrap], {
      stdio: ["pipe", "pipe", "inherit"],
      detached: true, // its own process group, which it kills when done
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      uid: this.ids.uid,
      gid: this.ids.gid,
    });
    c.stdout!.setEncoding("utf8");
    c.stdout!.on("data", (s: string) => this.onLines(s));
    c.stdin!.on("error", () => {});
    c.on("error", (e) => this.fail(e));
    c.on("exit", () => this.fail(new Error("the sandbox helper exited")));
    this.child = c;
    this.idle();
    this.askSpare();
    return c;
  }

  private fail(e: Error): void {
    this.dead = e;
    this.child = null;
    this.release();
    for (const [d, p] of this.pending) {
      this.pending.delete(d);
      p.reject(new BuildError(`cannot run the sandbox: ${e.message}`, "sandbox"));
    }
  }

  /** Keeps the process alive only while builds run. */
  private idle(): void {
    const c = this.child;
    if (!c) return;
    const busy = this.pending.size > 0;
    for (const h of [c, c.stdin, c.stdout] as unknown as { ref?(): void; unref?(): void }[]) {
      if (busy) h.ref?.();
      else h.unref?.();
    }
  }

  private onLines(s: string): void {
    const lines = (this.buffered + s).split("\n");
    this.buffered = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("+")) {
        if (line.slice(1) !== this.asked) continue;
        this.asked = null;
        this.spares.push(line.slice(1));
        continue;
      }
      const m = /^(.*) (fifo|pid|exit) ?(\d*)$/.exec(line);
      const p = m && this.pending.get(m[1]);
      if (!m || !p) continue;
      if (m[2] === "fifo") this.attachLog(m[1], p);
      else if (m[2] === "pid") {
        p.pid = Number(m[3]);
        if (p.failure) this.kill(p);
      } else {
        p.exit = exitCode(m[1]);
        this.maybeDone(m[1], p);
      }
    }
  }

  private attachLog(dir: string, p: Pending): void {
    // non-blocking: the writer (bwrap's redirection) is opening the other end
    const fd = openSync(join(dir, "log"), constants.O_RDONLY | constants.O_NONBLOCK);
    const sock = new Socket({ fd, readable: true, writable: false });
    p.socket = sock;
    sock.on("data", (c: Buffer) => {
      this.armSilent(p);
      p.events.onLog?.(c);
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      p.logEnded = true;
      this.maybeDone(dir, p);
    });
  }

  private maybeDone(dir: string, p: Pending): void {
    // the exit status and the end of the log, in either order (a builder that failed to start writes no log)
    if (p.exit === undefined || (!p.logEnded && p.socket)) return;
    this.pending.delete(dir);
    if (p.silentTimer) clearTimeout(p.silentTimer);
    if (p.totalTimer) clearTimeout(p.totalTimer);
    if (p.onAbort) p.limits.signal?.removeEventListener("abort", p.onAbort);
    this.idle();
    if (p.failure) p.reject(p.failure);
    else if (p.exit === null) p.reject(new BuildError(`the sandbox did not start (see the log)`, "sandbox"));
    else p.resolve({ code: p.exit, signal: null });
  }

  private kill(p: Pending): void {
    if (p.pid === undefined) return; // killed once the pid arrives
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }

  private stop(p: Pending, err: BuildError): void {
    if (p.failure) return;
    p.failure = err;
    this.kill(p);
  }

  private armSilent(p: Pending): void {
    if (!p.limits.maxSilentTime) return;
    if (p.silentTimer) clearTimeout(p.silentTimer);
    p.silentTimer = setTimeout(() => this.stop(p, new BuildError(`timed out after ${p.limits.maxSilentTime} seconds of silence`, "silent")), p.limits.maxSilentTime * 1000);
  }

  /**
   * Runs bwrap with `args` (its options and the command) in the environment
   * `env`, the seccomp program on fd 4. `dir` is a fresh directory for the
   * request files (made here, owned by the helper's user).
   */
  run(dir: string, args: string[], command: string[], env: [string, string][], seccomp: Uint8Array, events: BuildEvents = {}, limits: BuildLimits = {}): Promise<RunResult> {
    if (this.dead) return Promise.reject(new BuildError(`cannot run the sandbox: ${this.dead.message}`, "sandbox"));
    if (dir.includes("\n") || dir.startsWith("+")) return Promise.reject(new BuildError(`bad scratch directory '${dir}'`, "sandbox"));
    mkdirSync(dir, { mode: 0o700 });
    if (this.ids.uid !== undefined) chownSync(dir, this.ids.uid, this.ids.gid ?? -1);
    const spare = this.spares.shift();
    if (spare !== undefined) {
      try {
        renameSync(spare, join(dir, "log"));
      } catch {} // (another file system: the helper makes the FIFO)
    }
    const all = ["--clearenv", ...env.flatMap(([k, v]) => ["--setenv", k, v]), ...args];
    if ([...all, ...command].some((a) => a.includes("\0"))) return Promise.reject(new BuildError("an argument or variable contains a NUL byte", "sandbox"));
    writeFileSync(join(dir, "args"), all.map((a) => a + "\0").join(""), { mode: 0o644 });
    writeFileSync(join(dir, "cmd"), `set -- ${command.map(shellQuote).join(" ")}\n`, { mode: 0o644 });
    writeFileSync(join(dir, "seccomp"), seccomp, { mode: 0o644 });
    const child = this.start();
    return new Promise((resolve, reject) => {
      const p: Pending = { events, limits, resolve, reject, logEnded: false };
      this.pending.set(dir, p);
      this.idle();
      if (limits.timeout) p.totalTimer = setTimeout(() => this.stop(p, new BuildError(`timed out after ${limits.timeout} seconds`, "timeout")), limits.timeout * 1000);
      this.armSilent(p);
      p.onAbort = () => this.stop(p, new BuildError("interrupted", "interrupted"));
      limits.signal?.addEventListener("abort", p.onAbort, { once: true });
      child.stdin!.write(dir + "\n");
      this.askSpare();
    });
  }
}
