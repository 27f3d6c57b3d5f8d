// `tvix store daemon` against C++ Nix 2.8's nix-daemon, each on a store of
// its own, in one run, through the same protocol client:
//   - AddMultipleToStore throughput: 2,000 small paths (1-16 KiB), then 16
//     paths of 4 MiB, the same bytes to both (after a warm-up with others);
//   - QueryPathInfo round trips per second with 1, 8 and 32 clients at once
//     (each client asks, waits for the answer, asks again) over those paths.
// Ours serves a durable local store (packs fdatasynced before a path is
// registered) and writes each path's files under its root too; nix-daemon
// writes files and its SQLite database.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DaemonConnection } from "../stores/daemon-client";
import { Op, readUnkeyedPathInfo } from "../core/daemon-protocol";
import { WireWriter } from "../core/wire";
import { have } from "./util";
import { items, sendAddMultiple, type Item } from "./scripts/daemon-items";

if (!have("nix-daemon") || process.getuid?.() !== 0) {
  console.log("nix-daemon not installed or not root: skipping the daemon benchmark");
  process.exit(0);
}
const root = "/tmp/tvix-bench-daemon";
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const NIX_CONFIG = "substituters =\nexperimental-features = nix-command\n";

async function waitFor(check: () => boolean, what: string) {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 30));
  if (!check()) throw new Error(`${what} did not start`);
}

const dist = join(import.meta.dirname, "..", "dist", "tvix");
const tvixCmd = existsSync(dist) ? [dist] : [process.execPath, "--import", "tsx", join(import.meta.dirname, "..", "cmd", "main.ts")];
const oursSock = join(root, "ours.sock");
const theirsSock = join(root, "theirs.sock");
const procs: ChildProcess[] = [];
let oursLog = "";
const ours = spawn(tvixCmd[0], [...tvixCmd.slice(1), "store", "daemon", "--store", `local://${root}/ours`, "--listen", `unix://${oursSock}`], {
  env: { ...process.env, TVIX_HOME: join(root, "home") },
  stdio: ["ignore", "ignore", "pipe"],
});
ours.stderr!.on("data", (d) => (oursLog += d));
const theirs = spawn("nix-daemon", ["--option", "store", `local?root=${root}/theirs`], {
  env: { ...process.env, NIX_CONFIG, NIX_DAEMON_SOCKET_PATH: theirsSock },
  stdio: ["ignore", "ignore", "ignore"],
});
procs.push(ours, theirs);
process.on("exit", () => procs.forEach((p) => p.kill("SIGTERM")));
await waitFor(() => /serving/.test(oursLog), "tvix store daemon");
await waitFor(() => existsSync(theirsSock), "nix-daemon");
console.log(`ours: ${existsSync(dist) ? "dist/tvix" : "tsx cmd/main.ts"}, local store (durable)`);

/** CPU seconds of a process (with `children`: of its exited, reaped children, where nix-daemon's per-connection workers end up). */
function cpu(pid: number, children: boolean): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // fields after the name: state=0 ... utime=11 stime=12 cutime=13 cstime=14 (0-based from state)
  const ticks = children ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12]);
  return ticks / 100;
}
const cpuOf = (which: "ours" | "theirs") => (which === "ours" ? cpu(ours.pid!, false) : cpu(theirs.pid!, true));

async function addMultiple(sock: string, list: Item[]): Promise<number> {
  const c = await DaemonConnection.connect(sock);
  const ms = await sendAddMultiple(c, list);
  c.close();
  return ms;
}

async function roundTrips(sock: string, clients: number, paths: string[], seconds: number): Promise<number> {
  // one at a time: nix-daemon's listen backlog is small
  const conns: DaemonConnection[] = [];
  for (let i = 0; i < clients; i++) conns.push(await DaemonConnection.connect(sock));
  const until = Date.now() + seconds * 1000;
  let ops = 0;
  await Promise.all(
    conns.map(async (c, k) => {
      for (let i = k; Date.now() < until; i++) {
        const p = paths[i % paths.length];
        await c.send(new WireWriter().u64(Op.QueryPathInfo).string(p));
        await c.processStderr();
        if (!(await c.reader.bool())) throw new Error(`${p} is not valid in ${sock}`);
        await readUnkeyedPathInfo(c.reader, c.version, p);
        ops++;
      }
    }),
  );
  conns.forEach((c) => c.close());
  return ops / seconds;
}

const line = (what: string, o: number, t: number, unit: string, higherIsBetter: boolean) =>
  `${what}: ours ${o.toFixed(unit === "ms" ? 0 : 1)} ${unit}, nix-daemon ${t.toFixed(unit === "ms" ? 0 : 1)} ${unit}, ${higherIsBetter ? "ours/theirs" : "theirs/ours"} = ${(higherIsBetter ? o / t : t / o).toFixed(2)}`;

const small = items(2000, 1024, 16 * 1024, 1);
const large = items(16, 4 << 20, 4 << 20, 2);
// a daemon is long-lived: other paths first, so that ours is measured warm
// (compiled code, writer threads started); nix-daemon forks a fresh worker
// per connection either way
for (const warm of [items(200, 1024, 16 * 1024, 3), items(2, 4 << 20, 4 << 20, 4)]) {
  await addMultiple(theirsSock, warm);
  await addMultiple(oursSock, warm);
}
for (const [name, list] of [["2,000 paths of 1-16 KiB", small], ["16 paths of 4 MiB", large]] as const) {
  const bytes = list.reduce((n, i) => n + i.nar.length, 0);
  const tc0 = cpuOf("theirs");
  const t = await addMultiple(theirsSock, list);
  await new Promise((r) => setTimeout(r, 200)); // the worker exits and is reaped
  const tc = cpuOf("theirs") - tc0;
  const oc0 = cpuOf("ours");
  const o = await addMultiple(oursSock, list);
  const oc = cpuOf("ours") - oc0;
  const mbs = (ms: number) => bytes / 1e6 / (ms / 1000);
  console.log(
    `AddMultipleToStore, ${name} (${(bytes / 1e6).toFixed(1)} MB): ours ${o.toFixed(0)} ms (${mbs(o).toFixed(1)} MB/s, ${(list.length / (o / 1000)).toFixed(0)} paths/s, ${oc.toFixed(2)} s CPU), ` +
      `nix-daemon ${t.toFixed(0)} ms (${mbs(t).toFixed(1)} MB/s, ${tc.toFixed(2)} s CPU), speed ours/theirs = ${(t / o).toFixed(2)}, CPU theirs/ours = ${(tc / oc).toFixed(2)}`,
  );
}

const paths = small.map((i) => i.info.path);
for (const clients of [1, 8, 32]) {
  const t = await roundTrips(theirsSock, clients, paths, 3);
  const o = await roundTrips(oursSock, clients, paths, 3);
  console.log(line(`QueryPathInfo round trips, ${clients} client${clients > 1 ? "s" : ""}`, o, t, "ops/s", true));
}
for (const p of procs) p.kill("SIGTERM");
await new Promise((r) => setTimeout(r, 300));
rmSync(root, { recursive: true, force: true });
