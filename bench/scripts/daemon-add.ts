// AddMultipleToStore into `tvix store daemon` alone, for profiling:
//   node --import tsx bench/scripts/daemon-add.ts small|large [ROUNDS]
// prints each round's time and the daemon's CPU time (THREADS=1: per
// thread). TVIX_CPU_PROFILE=FILE makes dist/tvix write a CPU profile at exit;
// FROM_SOURCE=1 runs cmd/main.ts instead of dist/tvix (NODE_FLAGS: node's flags for it). WARM=1 first adds
// what bench/daemon.ts warms up with (200 small paths, 2 large);
// PAUSE_MS=N waits N ms before each round (bench/daemon.ts's daemon is idle
// ~0.5-2 s while nix-daemon takes its turn).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DaemonConnection } from "../../stores/daemon-client";
import { items, sendAddMultiple } from "./daemon-items";

const which = process.argv[2] ?? "small";
const rounds = Number(process.argv[3] ?? 1);
const root = "/tmp/tvix-bench-daemon-add";
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const dist = join(import.meta.dirname, "..", "..", "dist", "tvix");
const cmd = existsSync(dist) && !process.env.FROM_SOURCE ? [dist] : [process.execPath, ...(process.env.NODE_FLAGS?.split(" ").filter((f) => f) ?? []), "--import", "tsx", join(import.meta.dirname, "..", "..", "cmd", "main.ts")];
const sock = join(root, "ours.sock");
let log = "";
const ours = spawn(cmd[0], [...cmd.slice(1), "store", "daemon", "--store", `local://${root}/ours`, "--listen", `unix://${sock}`], {
  env: { ...process.env, TVIX_HOME: join(root, "home") },
  stdio: ["ignore", "inherit", "pipe"],
});
ours.stderr!.on("data", (d) => (log += d));
for (let i = 0; i < 1000 && !/serving/.test(log); i++) await new Promise((r) => setTimeout(r, 30));

function threads(): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const t of readdirSync(`/proc/${ours.pid}/task`)) {
    try {
      const raw = readFileSync(`/proc/${ours.pid}/task/${t}/stat`, "utf8");
      const name = raw.slice(raw.indexOf("(") + 1, raw.lastIndexOf(")"));
      const f = raw.split(") ")[1].split(" ");
      const k = `${name}`;
      const o = m.get(k) ?? [0, 0];
      m.set(k, [o[0] + Number(f[11]) / 100, o[1] + Number(f[12]) / 100]);
    } catch {}
  }
  return m;
}
const stat = () => readFileSync(`/proc/${ours.pid}/stat`, "utf8").split(") ")[1].split(" ");
const cpu = () => {
  const f = stat();
  return (Number(f[11]) + Number(f[12])) / 100;
};
/** Minor page faults so far (fresh memory touched: ~4 KiB each). */
const faults = () => Number(stat()[7]);
if (process.env.WARM) {
  for (const warm of [items(200, 1024, 16 * 1024, 3), items(2, 4 << 20, 4 << 20, 4)]) {
    const c = await DaemonConnection.connect(sock);
    await sendAddMultiple(c, warm);
    c.close();
  }
}
const pause = Number(process.env.PAUSE_MS ?? 0);
for (let r = 0; r < rounds; r++) {
  if (pause) await new Promise((r) => setTimeout(r, pause));
  const list = which === "small" ? items(2000, 1024, 16 * 1024, 10 + r) : items(16, 4 << 20, 4 << 20, 100 + r);
  const c = await DaemonConnection.connect(sock);
  const c0 = cpu();
  const f0 = faults();
  const th0 = threads();
  const ms = await sendAddMultiple(c, list);
  c.close();
  await new Promise((r) => setTimeout(r, 100));
  console.log(`${which} round ${r}: ${ms.toFixed(0)} ms, ${(cpu() - c0).toFixed(2)} s CPU, ${faults() - f0} page faults`);
  if (process.env.THREADS) for (const [k, [u, s]] of threads()) {
    const [u0, s0] = th0.get(k) ?? [0, 0];
    if (u - u0 + s - s0 > 0.005) console.log(`  ${k}: user ${(u - u0).toFixed(2)} sys ${(s - s0).toFixed(2)}`);
  }
}
ours.kill("SIGTERM");
await new Promise((r) => ours.on("exit", r));
