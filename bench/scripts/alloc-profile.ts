// Sampled allocation profile of one evaluation (everything allocated, also
// what the GC collected), summed by the function that allocated:
//   node --import tsx bench/scripts/alloc-profile.ts FILE [EXPR]
import { Session } from "node:inspector";
import { runEval } from "../../eval/driver";
import { makeEvalHost } from "../../glue";
import { toRequest } from "../../test/fixtures/eval/harness";

const [file, expr] = process.argv.slice(2);
const s = new Session();
s.connect();
const post = (m: string, p?: object) => new Promise<any>((res, rej) => s.post(m, p, (e, r) => (e ? rej(e) : res(r))));
await post("HeapProfiler.enable");
await post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const req = toRequest(expr ?? "", ["--strict"], process.cwd());
if (!expr) {
  delete req.expr;
  req.file = file;
}
let out = "";
runEval(req, { out: (x) => (out += x), err: (x) => process.stderr.write(x) }, makeEvalHost().host);
const { profile } = await post("HeapProfiler.stopSampling");
const self = new Map<string, number>();
let total = 0;
// a built-in (no script) is named with its caller: "sort < sortNames value.ts:12"
const frame = (cf: any) => `${cf.functionName || "(anon)"} ${String(cf.url).split("/").pop()}:${cf.lineNumber + 1}`;
const walk = (n: any, parent: string) => {
  const size = n.selfSize as number;
  total += size;
  const cf = n.callFrame;
  const key = cf.url ? frame(cf) : `${cf.functionName} < ${parent}`;
  self.set(key, (self.get(key) ?? 0) + size);
  for (const c of n.children) walk(c, cf.url ? frame(cf) : parent);
};
walk(profile.head, "");
console.log(`allocated (sampled) ${(total / 1e6).toFixed(1)} MB; result ${out.slice(0, 60).trim()}`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) console.log((v / 1e6).toFixed(1).padStart(8), k);
