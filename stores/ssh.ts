// Running a program on another machine through the system `ssh`, as C++
// Nix's ssh-ng:// store does: `ssh HOST -x -a [NIX_SSHOPTS...] [-i KEY]
// [-oUserKnownHostsFile=FILE] [-C] COMMAND`, so that the user's keys, agent
// and ssh_config apply. The host "localhost" runs COMMAND in a local shell
// without ssh (Nix's "fake ssh"). The program's stdin and stdout are the
// byte stream; its stderr (ssh's own messages and the remote program's) is
// kept for error messages.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SshTarget {
  /** "host" or "user@host" (an ssh_config alias works). */
  host: string;
  port?: number;
  /** A private key file (`-i`). */
  key?: string;
  /** The host's public key, base64 of its OpenSSH line ("ssh-ed25519 AAAA..."), as Nix's machines files give it. */
  publicHostKey?: string;
  compress?: boolean;
}

/** Nix's shellEscape: one single-quoted word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** NIX_SSHOPTS split as Nix does (on whitespace, no quoting). */
export function sshOptsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.NIX_SSHOPTS ?? "").split(/\s+/).filter(Boolean);
}

export interface SshCommand {
  file: string;
  args: string[];
  /** Removes what the command needed on disk (a known-hosts file). */
  cleanup(): void;
}

/** The argv that runs `command` on the target. */
export function sshCommand(t: SshTarget, command: string, env: NodeJS.ProcessEnv = process.env): SshCommand {
  if (t.host === "localhost" && t.port === undefined) return { file: "sh", args: ["-c", command], cleanup() {} };
  const args = [t.host, "-x", "-a", ...sshOptsFromEnv(env)];
  if (t.port !== undefined) args.push("-p", String(t.port));
  if (t.key) args.push("-i", t.key);
  let dir: string | null = null;
  if (t.publicHostKey) {
    const line = Buffer.from(t.publicHostKey, "base64").toString("utf8").trim();
    if (!/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+/.test(line)) throw new Error(`the public host key of '${t.host}' is not a base64-encoded OpenSSH public key`);
    const bare = t.host.slice(t.host.lastIndexOf("@") + 1);
    dir = mkdtempSync(join(tmpdir(), "tvix-ssh-"));
    const file = join(dir, "host-key");
    writeFileSync(file, `${t.port !== undefined ? `[${bare}]:${t.port}` : bare} ${line}\n`);
    args.push(`-oUserKnownHostsFile=${file}`);
  }
  if (t.compress) args.push("-C");
  args.push(command);
  const d = dir;
  return { file: "ssh", args, cleanup: () => d && rmSync(d, { recursive: true, force: true }) };
}

/** A running remote command: its stdio, and the tail of what it wrote to stderr. */
export interface RemoteProcess {
  child: ChildProcess;
  /** The last lines of stderr (ssh's errors, the remote program's messages). */
  stderrTail(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnRemote(t: SshTarget, command: string, env: NodeJS.ProcessEnv = process.env): RemoteProcess {
  const cmd = sshCommand(t, command, env);
  const child = spawn(cmd.file, cmd.args, { stdio: ["pipe", "pipe", "pipe"], env });
  let tail: string[] = [];
  let partial = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (s: string) => {
    const lines = (partial + s).split("\n");
    partial = lines.pop()!;
    tail = [...tail, ...lines.filter((l) => l.trim() !== "")].slice(-20);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("error", () => resolve({ code: null, signal: null }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  void exited.then(() => cmd.cleanup());
  // errors surface through the streams (spawn failures also through `exited`)
  child.stdin!.on("error", () => {});
  child.stdout!.on("error", () => {});
  let spawnError = "";
  child.once("error", (e) => (spawnError = `cannot run '${cmd.file}': ${e.message}`));
  return {
    child,
    stderrTail: () => [spawnError, ...tail, partial].filter(Boolean).join("\n"),
    exited,
  };
}
