// Machines for remote-build tests: each is Debian's `sshd` on a loopback
// port with its own host key, key authentication only, and its own
// environment for the commands it runs (SetEnv: TVIX_HOME, TVIX_CONF_DIR), so
// that one host stands for several machines with separate stores. An
// ssh_config names them (`Host NAME`); clients use it through NIX_SSHOPTS
// ("-F FILE"), as Nix users do.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { repoRoot } from "./helpers";

export const SSHD = "/usr/sbin/sshd";

/** Why these tests cannot run here, or false. */
export function sshSkip(): string | false {
  if ((process.getuid?.() ?? 1) !== 0) return "remote-build tests need root (sshd with its own configuration)";
  if (!existsSync(SSHD)) return "sshd not installed (apt-get install openssh-server)";
  if (spawnSync("sh", ["-c", "command -v ssh && command -v ssh-keygen"]).status !== 0) return "ssh not installed (apt-get install openssh-client)";
  return false;
}

export interface SshMachine {
  name: string;
  port: number;
  dir: string;
  /** The host key's public line ("ssh-ed25519 AAAA..."). */
  hostKey: string;
  /** The listener and every connection's processes (sshd sessions, the remote programs) die at once. */
  vanish(): void;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Every descendant of `pid` (from /proc). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(e), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    for (const [c, pp] of parent) if (pp === p) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

/** The client key every machine accepts. */
export function clientKey(dir: string): string {
  const key = join(dir, "client_key");
  if (!existsSync(key)) spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key], { stdio: "ignore" });
  return key;
}

/** Starts an sshd for machine `name`; `env` is the environment of the commands it runs. */
export async function startMachine(root: string, name: string, env: Record<string, string>): Promise<SshMachine> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  mkdirSync("/run/sshd", { recursive: true });
  const hostKey = join(dir, "host_key");
  spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey], { stdio: "ignore" });
  writeFileSync(join(dir, "authorized_keys"), readFileSync(clientKey(root) + ".pub"));
  const port = await freePort();
  const setEnv = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UseDNS no",
      ...(setEnv ? [`SetEnv ${setEnv}`] : []),
      "LogLevel INFO",
      "",
    ].join("\n"),
  );
  const sshd: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  sshd.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<void>((r) => sshd.once("exit", () => r()));
  const until = Date.now() + 20_000;
  while (!/Server listening/.test(log)) {
    if (sshd.exitCode !== null || Date.now() > until) throw new Error(`sshd for ${name} did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const kill = () => {
    if (sshd.pid === undefined) return;
    for (const p of [sshd.pid, ...descendants(sshd.pid)]) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone already
      }
    }
  };
  return {
    name,
    port,
    dir,
    hostKey: readFileSync(hostKey + ".pub", "utf8").trim().split(" ").slice(0, 2).join(" "),
    vanish: kill,
    async stop() {
      kill();
      await exited;
    },
  };
}

/** An ssh_config naming each machine (root, the client key, their host keys); returns NIX_SSHOPTS for it. */
export function writeSshConfig(root: string, machines: SshMachine[]): string {
  const known = join(root, "known_hosts");
  writeFileSync(known, machines.map((m) => `[127.0.0.1]:${m.port} ${m.hostKey}\n`).join(""));
  const file = join(root, "ssh_config");
  writeFileSync(
    file,
    [
      ...machines.flatMap((m) => [`Host ${m.name}`, "  HostName 127.0.0.1", `  Port ${m.port}`]),
      "Host *",
      "  User root",
      `  IdentityFile ${clientKey(root)}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${known}`,
      "  StrictHostKeyChecking yes",
      "  BatchMode yes",
      "",
    ].join("\n"),
  );
  return `-F ${file}`;
}

/** A remote-program running tvix from these sources (`PROGRAM store daemon --stdio`). */
export function tvixRemoteProgram(root: string): string {
  const file = join(root, "tvix-remote");
  writeFileSync(file, `#!/bin/sh\ncd ${repoRoot} && exec ${process.execPath} --import tsx cmd/main.ts "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A remote-program running Nix 2.8's daemon with the sandbox on and no substituters. */
export function nixRemoteProgram(root: string): string {
  const file = join(root, "nix-remote");
  writeFileSync(file, `#!/bin/sh\nNIX_CONFIG='sandbox = true\nsubstituters =' exec nix-daemon "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}
