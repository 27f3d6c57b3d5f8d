// Who is on the other end of a unix socket. C++ Nix asks the kernel
// (getsockopt SO_PEERCRED); Node has no API for that and native addons are
// not an option, so the peer is found the way `ss` finds it: our end's
// socket inode comes from /proc/self/fd/<fd>, `ss -xpn` (iproute2, which
// asks the kernel's sock_diag for each unix socket's peer inode and scans
// /proc/*/fd for the process holding it) names the process holding the
// other end, and /proc/<pid>/status gives its effective uid and gid.
// Lookups arriving together share one `ss` run (~10-25 ms). Without `ss`, or
// when the client exits before it is seen, the peer is unknown and the
// connection is treated as coming from no user at all (not trusted; allowed
// only when allowed-users contains "*").
import { execFile } from "node:child_process";
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

let batch: Promise<Map<string, number>> | null = null;

/** One `ss` run: peer inode -> pid of the process holding the socket with that inode as peer. */
function ssPeers(): Promise<Map<string, number>> {
  batch ??= new Promise((resolve) => {
    setImmediate(() => {
      batch = null;
      execFile("ss", ["-xpnH"], { maxBuffer: 64 * 1024 * 1024, timeout: 10_000 }, (err, out) => {
        const map = new Map<string, number>();
        if (!err) {
          // u_str ESTAB 0 0 * 52799 * 52800 users:(("nix-store",pid=123,fd=3))
          for (const line of out.split("\n")) {
            const m = /\s(\d+)\s+\S+\s+(\d+)\s+users:\(\("[^"]*",pid=(\d+),/.exec(line);
            if (m) map.set(m[2], Number(m[3]));
          }
        }
        resolve(map);
      });
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
