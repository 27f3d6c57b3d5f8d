// Start-up of the single binary (dist/tvix) against Nix 2.26 (the oracle):
// `tvix eval -E 1` vs `nix-instantiate --eval -E 1`, `tvix --version` vs
// `nix --version`, and the time to the repl's first prompt (`tvix repl` vs
// `nix repl`, both in a pseudo-terminal through script(1)). Runs alternate;
// the median wall time of BENCH_ROUNDS (default 15) runs is printed, with
// the median CPU time (user + system) of the one-shot commands.
// BENCH_BASE=PATH adds another tvix binary as a third column (e.g. one built
// from another Node version). The oracle runs inside bubblewrap, which adds
// a few ms to its times.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, sharedDir } from "../test/helpers";

const tvix = join(repoRoot, "dist", "tvix");
const oracle = join(sharedDir, "tools", "nix-oracle");
const haveOracle = existsSync(oracle) && existsSync("/opt/nix-oracle/usr/bin/nix");
const base = process.env.BENCH_BASE;
const rounds = Number(process.env.BENCH_ROUNDS || 15);
if (!existsSync(tvix)) {
  console.log("dist/tvix missing: run node build.mjs first");
  process.exit(1);
}
if (!haveOracle) console.log("Nix 2.26 oracle not installed: only our numbers are printed");
// a home of its own: the repl's history and the store stay out of the user's
const home = mkdtempSync(join(tmpdir(), "tvix-bench-startup-"));
process.on("exit", () => rmSync(home, { recursive: true, force: true }));
const env = { ...process.env, TVIX_HOME: home };

const timeFile = join(home, "time.out");
/** Wall and CPU ms of one run, as GNU time measures them. */
function oneShot(argv: string[]): { wall: number; cpu: number } {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S", "-o", timeFile, ...argv], { env, stdio: "ignore" });
  const [e, u, s] = readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
  if (r.status !== 0 || !Number.isFinite(e)) throw new Error(`${argv.join(" ")} failed`);
  return { wall: e * 1000, cpu: (u + s) * 1000 };
}

/** ms from start until the first "nix-repl> " prompt, in a pseudo-terminal. */
function toPrompt(cmd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn("script", ["-qfec", cmd, "/dev/null"], { env: { ...env, TERM: "xterm" }, stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    let ms = -1;
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (d: string) => {
      out += d;
      if (ms < 0 && out.includes("nix-repl> ")) {
        ms = Number(process.hrtime.bigint() - t0) / 1e6;
        p.stdin.write(":q\r");
      }
    });
    p.on("close", () => {
      clearTimeout(timer);
      if (ms < 0) reject(new Error(`${cmd}: no prompt seen (output: ${JSON.stringify(out.slice(0, 300))})`));
      else resolve(ms);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

interface Side {
  label: string;
  eval: string[];
  version: string[];
  repl: string;
}
const sides: Side[] = [{ label: "tvix", eval: [tvix, "eval", "-E", "1"], version: [tvix, "--version"], repl: `${tvix} repl` }];
if (base) sides.push({ label: "base", eval: [base, "eval", "-E", "1"], version: [base, "--version"], repl: `${base} repl` });
if (haveOracle)
  sides.push({ label: "nix 2.26", eval: [oracle, "nix-instantiate", "--eval", "-E", "1"], version: [oracle, "nix", "--version"], repl: `${oracle} nix repl` });

// warm-up: caches made (program files, code cache), nothing timed
for (const s of sides) {
  for (let i = 0; i < 3; i++) oneShot(s.eval);
  oneShot(s.version);
  await toPrompt(s.repl);
}
const results = new Map<string, { wall: number[]; cpu: number[] }>();
const add = (k: string, wall: number, cpu = NaN) => {
  const r = results.get(k) ?? { wall: [], cpu: [] };
  r.wall.push(wall);
  r.cpu.push(cpu);
  results.set(k, r);
};
for (let i = 0; i < rounds; i++) {
  for (const s of sides) {
    const e = oneShot(s.eval);
    add(`eval -E 1|${s.label}`, e.wall, e.cpu);
    const v = oneShot(s.version);
    add(`--version|${s.label}`, v.wall, v.cpu);
    add(`repl first prompt|${s.label}`, await toPrompt(s.repl));
  }
}
const load = spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.split(" ").slice(0, 3).join(" ");
console.log(`start-up, median of ${rounds} alternating runs (load average ${load}):`);
for (const what of ["eval -E 1", "--version", "repl first prompt"]) {
  const cols = sides.map((s) => {
    const r = results.get(`${what}|${s.label}`)!;
    const cpu = median(r.cpu);
    return `${s.label} ${median(r.wall).toFixed(0)} ms${Number.isFinite(cpu) ? ` (cpu ${cpu.toFixed(0)} ms)` : ""}`;
  });
  const ours = median(results.get(`${what}|tvix`)!.wall);
  const nix = haveOracle ? median(results.get(`${what}|nix 2.26`)!.wall) : NaN;
  console.log(`${what}: ${cols.join(", ")}${haveOracle ? `, ratio tvix/nix = ${(ours / nix).toFixed(2)}` : ""}`);
}
