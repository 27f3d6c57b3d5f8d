// Live heap of an evaluation, summed by object type and constructor, when it
// first writes to stderr (a `builtins.trace` placed where the heap is of
// interest) or else when it prints its result:
//   node --import tsx bench/scripts/heap-summary.ts FILE
import { writeHeapSnapshot } from "node:v8";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runEval } from "../../eval/driver";
import { makeEvalHost } from "../../glue";
import { toRequest } from "../../test/fixtures/eval/harness";
const [file] = process.argv.slice(2);
const req = toRequest("", ["--strict"], process.cwd());
delete req.expr;
req.file = file;
let out = "";
// written synchronously while the evaluation's values are still reachable
let snapFile = "";
const snapshot = () => (snapFile ||= writeHeapSnapshot(join(tmpdir(), `tvix-heap-${process.pid}.heapsnapshot`)));
runEval(req, { out: (x) => ((out += x), snapshot()), err: (x) => (snapshot(), process.stderr.write(x)) }, makeEvalHost().host);
if (!snapFile) throw new Error("the evaluation printed nothing");
const snap = JSON.parse(readFileSync(snapFile, "utf8"));
rmSync(snapFile);
const fields: string[] = snap.snapshot.meta.node_fields;
const types: string[] = snap.snapshot.meta.node_types[0];
const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
const bytes = new Map<string, { count: number; size: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const key = `${types[snap.nodes[i + typeAt]]}:${snap.strings[snap.nodes[i + nameAt]]}`.slice(0, 60).replace(/\n/g, " ");
  const size = snap.nodes[i + sizeAt];
  const e = bytes.get(key) ?? { count: 0, size: 0 };
  e.count++;
  e.size += size;
  bytes.set(key, e);
  total += size;
}
console.log(`live heap ${(total / 1e6).toFixed(1)} MB; result ${out.slice(0, 60).trim()}`);
for (const [k, e] of [...bytes].sort((a, b) => b[1].size - a[1].size).slice(0, Number(process.env.TOP ?? 30)))
  console.log((e.size / 1e6).toFixed(1).padStart(7), String(e.count).padStart(9), k);
