// Summarises .cpuprofile files: self time per function, top N, of the
// profile (thread) that was busiest. Usage: profile.mjs [N] FILE...
import { readFileSync } from "node:fs";
const args = process.argv.slice(2);
const top = /^\d+$/.test(args[0] ?? "") ? Number(args.shift()) : 30;
let best = null;
for (const f of args) {
  const p = JSON.parse(readFileSync(f, "utf8"));
  const self = new Map();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  p.samples.forEach((s, i) => {
    const n = byId.get(s);
    const k = `${n.callFrame.functionName} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
    self.set(k, (self.get(k) || 0) + (p.timeDeltas[i] || 0));
  });
  const busy = [...self].filter(([k]) => !k.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
  if (!best || busy > best.busy) best = { busy, self };
}
console.log("busy ms", (best.busy / 1000).toFixed(0));
for (const [k, v] of [...best.self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log((v / 1000).toFixed(0).padStart(6), k);
