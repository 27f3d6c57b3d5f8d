// Who is on the other end of a unix socket. C++ Nix asks the kernel
// (getsockopt SO_PEERCRED); Node has no API for that and native addons are
// not an option, so the peer is found the way `ss` finds it: our end's
// socket inode comes from /proc/self/fd/<fd>, `ss -xpn` (iproute2, which
// asks the kernel's sock_diag for each unix socket's peer inode and scans
// /proc/*/fd for the process holding it) names the process holding the
// other end, and /proc/<pid>/status gives its effective uid and gid.
// Lookups arriving together share one `ss` run (~10-25 ms), started by a
// shell that the daemon starts once, while it is small (startPeerLookups()):
// forking the daemon itself for each run write-protects all of its memory
// (copy-on-write), and every page it writes afterwards faults again
// (measured: 6,000-9,000 page faults and ~0.2 s of CPU per 67 MB uploaded
// after a connection's lookup, against ~250 without). Without `ss`, or
// when the client exits before it is seen, the peer is unknown and the
// connection is treated as coming from no user at all (not trusted; allowed
// only when allowed-users contains "*").
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import type { Socket } from "node:net";

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
  user: string;
  /** Names of the primary group and every group listing the user. */
  groups: string[];
}

/** Our end's inode, from the socket's file descriptor. */
function socketInode(socket: Socket): string | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return null;
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Ends each `ss` output of the helper shell (never a line of ss's). */
const END = "--tvix-ss-end--";

/** The shell that runs `ss` for each line it reads (see above), while it runs. */
class SsShell {
  private readonly child: ChildProcess;
  private out = "";
  private readonly waiting: ((out: string | null) => void)[] = [];
  dead = false;

  constructor() {
    this.child = spawn("sh", ["-c", `while read -r _; do ss -xpnH 2>/dev/null; echo '${END}'; done`], { stdio: ["pipe", "pipe", "ignore"] });
    const gone = () => {
      this.dead = true;
      for (const w of this.waiting.splice(0)) w(null);
    };
    this.child.on("error", gone);
    this.child.on("exit", gone);
    this.child.stdin!.on("error", gone);
    this.child.stdout!.setEncoding("utf8");
    this.child.stdout!.on("data", (d: string) => {
      this.out += d;
      for (let at = this.out.indexOf(`${END}\n`); at >= 0; at = this.out.indexOf(`${END}\n`)) {
        const one = this.out.slice(0, at);
        this.out = this.out.slice(at + END.length + 1);
        this.waiting.shift()?.(one);
      }
    });
    // it never holds the daemon up
    this.child.unref();
    (this.child.stdin as unknown as { unref?(): void }).unref?.();
    (this.child.stdout as unknown as { unref?(): void }).unref?.();
  }

  /** One run's output; null when the shell is gone. */
  run(): Promise<string | null> {
    if (this.dead) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin!.write("\n");
    });
  }

  stop(): void {
    this.dead = true;
    this.child.kill();
  }
}

let shell: SsShell | null = null;

/** Starts the shell that runs `ss` for peer lookups (call it while the daemon is small, before it serves). */
export function startPeerLookups(): void {
  if (!shell || shell.dead) shell = new SsShell();
}

export function stopPeerLookups(): void {
  shell?.stop();
  shell = null;
}

/** `ss -xpnH`'s output: through the shell when it runs, else run from here; null when it fails. */
async function ssOutput(): Promise<string | null> {
  const viaShell = shell && !shell.dead ? await withTimeout(shell.run(), 10_000) : null;
  if (viaShell !== null) return viaShell;
  return new Promise((resolve) =>
    execFile("ss", ["-xpnH"], { maxBuffer: 64 * 1024 * 1024, timeout: 10_000 }, (err, out) => resolve(err ? null : out)),
  );
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]).finally(() => clearTimeout(timer));
}

let batch: Promise<Map<string, number>> | null = null;

/** One `ss` run: peer inode -> pid of the process holding the socket with that inode as peer. */
function ssPeers(): Promise<Map<string, number>> {
  batch ??= new Promise((resolve) => {
    setImmediate(async () => {
      batch = null;
      const out = await ssOutput();
      const map = new Map<string, number>();
      // u_str ESTAB 0 0 * 52799 * 52800 users:(("nix-store",pid=123,fd=3))
      for (const line of (out ?? "").split("\n")) {
        const m = /\s(\d+)\s+\S+\s+(\d+)\s+users:\(\("[^"]*",pid=(\d+),/.exec(line);
        if (m) map.set(m[2], Number(m[3]));
      }
      resolve(map);
    });
  });
  return batch;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

function readDb(path: string): string[][] {
  try {
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"));
  } catch {
    return [];
  }
}

export function userByUid(uid: number): PasswdEntry | null {
  const f = readDb("/etc/passwd").find((f) => Number(f[2]) === uid);
  return f ? { name: f[0], uid, gid: Number(f[3]) } : null;
}

/** The names of `gid`'s group and every group listing `user` as a member. */
export function groupsOf(user: string, gid: number): string[] {
  const out = new Set<string>();
  for (const f of readDb("/etc/group")) {
    if (Number(f[2]) === gid) out.add(f[0]);
    if ((f[3] ?? "").split(",").includes(user)) out.add(f[0]);
  }
  return [...out];
}

/** The credentials of process `pid` (effective uid and gid), or null when it is gone. */
export function processCredentials(pid: number): Peer | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1]);
  const gid = Number(/^Gid:\s+\d+\s+(\d+)/m.exec(status)?.[1]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  const user = userByUid(uid)?.name ?? String(uid);
  return { pid, uid, gid, user, groups: groupsOf(user, gid) };
}

/** The process on the other end of an accepted unix socket, or null when it cannot be told. */
export async function socketPeer(socket: Socket): Promise<Peer | null> {
  const ours = socketInode(socket);
  if (!ours) return null;
  const pid = (await ssPeers()).get(ours);
  return pid === undefined ? null : processCredentials(pid);
}
