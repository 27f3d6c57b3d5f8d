// Summarises a .cpuprofile: self time per function, top 30.
import { readFileSync } from "node:fs";
const p = JSON.parse(readFileSync(process.argv[2], "utf8"));
const self = new Map();
const byId = new Map(p.nodes.map((n) => [n.id, n]));
p.samples.forEach((s, i) => {
  const n = byId.get(s);
  const k = `${n.callFrame.functionName} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
  self.set(k, (self.get(k) || 0) + (p.timeDeltas[i] || 0));
});
const tot = [...self.values()].reduce((a, b) => a + b, 0);
console.log("total ms", (tot / 1000).toFixed(0));
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 30))) console.log((v / 1000).toFixed(0).padStart(6), k);
