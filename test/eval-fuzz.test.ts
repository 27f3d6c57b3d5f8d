// Bounded fuzzing of the parser and evaluator: random token soup and
// mutations (delete / duplicate / swap / insert characters and tokens) of the
// .nix files of ../shared/conformance/eval and ../shared/corpora/nixpkgs-lib.
// Every input goes through parse() in-process: it must return or throw a
// ParseError. A sample of the inputs that parse is evaluated (not strictly)
// on a worker with a time limit: it must give a value or a Nix error, never a
// JS exception such as TypeError. Time budget TVIX_FUZZ_MS (default 20 s);
// seed TVIX_FUZZ_SEED (default fixed, printed) so failures reproduce.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync, existsSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Worker } from "node:worker_threads";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { repoRoot, sharedDir } from "./helpers";
import { parse, ParseError } from "../eval/parser";
import type { FuzzJob, FuzzReply } from "./fixtures/eval/fuzz-worker";

const SEED = Number(process.env.TVIX_FUZZ_SEED ?? 20260125);
const BUDGET_MS = Number(process.env.TVIX_FUZZ_MS ?? 20000);
const EVAL_TIMEOUT_MS = 2000;
console.log(`# eval fuzz: seed ${SEED}, budget ${BUDGET_MS} ms (TVIX_FUZZ_SEED / TVIX_FUZZ_MS to change)`);

// --- deterministic randomness (mulberry32) ---
let rngState = SEED >>> 0;
function rnd(): number {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
const int = (n: number) => Math.floor(rnd() * n);

// --- corpus ---
function nixFiles(dir: string, recurse: boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && recurse) out.push(...nixFiles(p, true));
    else if (e.isFile() && e.name.endsWith(".nix") && statSync(p).size < 200_000) out.push(p);
  }
  return out.sort();
}
const corpus = [...nixFiles(join(sharedDir, "conformance", "eval"), false), ...nixFiles(join(sharedDir, "corpora", "nixpkgs-lib", "lib"), true)]
  .map((file) => ({ file, src: readFileSync(file, "utf8") }))
  // no network and no long-running builtins in mutated evaluations
  .filter((c) => !/fetch(url|Tarball|Git|Tree|Closure)|builtins\.exec|importNative/.test(c.src));

const TOKENS = [
  "let", "in", "rec", "with", "inherit", "if", "then", "else", "assert", "or", "{", "}", "(", ")", "[", "]", ";", "=", ":", ",", ".", "...", "@", "?",
  "+", "-", "*", "/", "++", "//", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "->", "!", "|>", "<|", "x", "y", "f", "a.b", "1", "0", "-1",
  "9223372036854775807", "1.5", "1e3", ".5", '"s"', '"${x}"', "''a''", "''${", "${", "}", '"', "''", "./p", "~/p", "<nixpkgs>", "http://a.b/c",
  "null", "true", "false", "builtins", "builtins.map", "import", "throw", "abort", "__curPos", "#c\n", "/* c */", "\n", " ", "\\", "$", "'",
];
const CHARS = "{}()[];=:,.@?+-*/<>!&|\"'$\\#~ \n\tabcxyz019_é";

function tokenize(s: string): string[] {
  return s.match(/\s+|[A-Za-z_][A-Za-z0-9_'-]*|[0-9]+(\.[0-9]+)?|\$\{|''|\/\/|\+\+|==|!=|<=|>=|&&|\|\||->|\.\.\.|[^\sA-Za-z0-9_]/g) ?? [];
}

type Input = { src: string; file: string; how: string };

function mutate(c: { file: string; src: string }): Input {
  // take a window of a big file so each input stays small and fast
  let src = c.src;
  if (src.length > 4000 && rnd() < 0.7) {
    const start = int(src.length - 2000);
    src = src.slice(start, start + 500 + int(3000));
  }
  const n = 1 + int(4);
  const hows: string[] = [];
  for (let k = 0; k < n; k++) {
    const op = int(8);
    const i = int(src.length + 1);
    if (op < 4) {
      // character mutations
      if (op === 0) src = src.slice(0, i) + src.slice(i + 1 + int(3));
      else if (op === 1) src = src.slice(0, i) + src.slice(i, i + 1 + int(5)) + src.slice(i);
      else if (op === 2) {
        const j = int(src.length + 1);
        const [a, b] = i < j ? [i, j] : [j, i];
        src = src.slice(0, a) + (src[b] ?? "") + src.slice(a + 1, b) + (src[a] ?? "") + src.slice(b + 1);
      } else src = src.slice(0, i) + pick([...CHARS]) + src.slice(i);
      hows.push(["delc", "dupc", "swapc", "insc"][op]);
    } else {
      const t = tokenize(src);
      const j = int(t.length + 1);
      if (op === 4) t.splice(j, 1 + int(2));
      else if (op === 5) t.splice(j, 0, ...t.slice(j, j + 1 + int(4)));
      else if (op === 6) {
        const k2 = int(t.length);
        [t[j], t[k2]] = [t[k2], t[j]];
      } else t.splice(j, 0, " " + pick(TOKENS) + " ");
      src = t.filter((x) => x !== undefined).join("");
      hows.push(["delt", "dupt", "swapt", "inst"][op - 4]);
    }
  }
  return { src, file: c.file, how: hows.join(",") };
}

function soup(): Input {
  const n = 1 + int(40);
  const parts: string[] = [];
  for (let k = 0; k < n; k++) parts.push(pick(TOKENS));
  return { src: parts.join(pick([" ", "", " ", "\n"])), file: "", how: "soup" };
}

// --- evaluation worker, restarted after a timeout ---
let worker: Worker | null = null;
function getWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL("../scripts/tsx-worker.mjs", pathToFileURL(join(repoRoot, "scripts", "x"))), {
      workerData: { tvixEntry: pathToFileURL(join(repoRoot, "test", "fixtures", "eval", "fuzz-worker.ts")).href },
      resourceLimits: { maxOldGenerationSizeMb: 512, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
  }
  return worker;
}
function stopWorker(): void {
  void worker?.terminate();
  worker = null;
}
after(stopWorker);

let nextId = 0;
const LAST_INPUT = join(tmpdir(), "tvix-eval-fuzz-last.json");
const TIMEOUTS = join(tmpdir(), "tvix-eval-fuzz-timeouts.jsonl");
writeFileSync(TIMEOUTS, "");
function evalOnWorker(inp: Input): Promise<FuzzReply | "timeout" | { workerError: string }> {
  const w = getWorker();
  const job: FuzzJob = { id: nextId++, src: inp.src, file: inp.file, dir: inp.file ? dirname(inp.file) : repoRoot };
  // a fatal V8 error takes the whole process down: keep the input that was running
  writeFileSync(LAST_INPUT, JSON.stringify(job));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      cleanup();
      appendFileSync(TIMEOUTS, JSON.stringify(job) + "\n");
      stopWorker();
      resolve("timeout");
    }, EVAL_TIMEOUT_MS + (job.id === 0 ? 10000 : 0)); // the first job also loads the evaluator
    const onMsg = (r: FuzzReply) => {
      if (r.id !== job.id) return;
      cleanup();
      resolve(r);
    };
    const onErr = (e: Error) => {
      cleanup();
      stopWorker();
      resolve({ workerError: `${e.name}: ${e.message}` });
    };
    const cleanup = () => {
      clearTimeout(timer);
      w.off("message", onMsg);
      w.off("error", onErr);
    };
    w.on("message", onMsg);
    w.on("error", onErr);
    w.postMessage(job);
  });
}

/** Shrinks a crashing input by deleting chunks while `fails` holds (bounded). */
async function minimise(src: string, fails: (s: string) => Promise<boolean>, deadline: number): Promise<string> {
  let cur = src;
  for (let chunk = Math.max(1, cur.length >> 1); chunk >= 1 && Date.now() < deadline; chunk >>= 1) {
    for (let i = 0; i < cur.length && Date.now() < deadline; ) {
      const cand = cur.slice(0, i) + cur.slice(i + chunk);
      if (await fails(cand)) cur = cand;
      else i += chunk;
    }
  }
  return cur;
}


function parseOutcome(src: string, file: string): "ok" | "error" | { crash: string } {
  try {
    parse(src, file, file ? dirname(file) : repoRoot);
    return "ok";
  } catch (e) {
    if (e instanceof ParseError) return "error";
    const err = e as Error;
    // main-thread stack overflow on deep nesting is a known limitation (test/eval-deep.test.ts)
    if (err instanceof RangeError && /call stack/.test(err.message)) return "error";
    return { crash: `${err?.name}: ${err?.message}\n${String(err?.stack).split("\n").slice(1, 6).join("\n")}` };
  }
}

test("fuzz: parse() and evaluation never crash with a JS exception", { timeout: BUDGET_MS + 120000 }, async () => {
  assert.ok(corpus.length > 100, `corpus of ${corpus.length} files`);
  const stats = { inputs: 0, parsed: 0, evaluated: 0, values: 0, nixErrors: 0, timeouts: 0, workerErrors: 0 };
  const crashes: string[] = [];
  const start = Date.now();
  const seenCrash = new Set<string>();
  while (Date.now() - start < BUDGET_MS && crashes.length < 5) {
    const inp = rnd() < 0.15 ? soup() : mutate(pick(corpus));
    stats.inputs++;
    const p = parseOutcome(inp.src, inp.file);
    if (typeof p === "object") {
      const key = p.crash.split("\n")[0];
      if (seenCrash.has(key)) continue;
      seenCrash.add(key);
      const min = await minimise(inp.src, async (s) => typeof parseOutcome(s, inp.file) === "object", Date.now() + 3000);
      crashes.push(`parse() crash (${inp.how}, from ${inp.file || "token soup"}): ${p.crash}\n  minimised input: ${JSON.stringify(min)}`);
      continue;
    }
    if (p !== "ok") continue;
    stats.parsed++;
    if (rnd() > 0.12) continue; // evaluate a sample
    stats.evaluated++;
    const r = await evalOnWorker(inp);
    if (r === "timeout") stats.timeouts++;
    else if ("workerError" in r) stats.workerErrors++;
    else if (r.kind === "value") stats.values++;
    else if (r.kind === "error") {
      stats.nixErrors++;
      assert.ok(r.formatted?.startsWith("error:"), `formatted error: ${r.formatted}`);
    } else {
      const key = `${r.name}: ${r.message?.split("\n")[0]}`;
      if (seenCrash.has(key)) continue;
      seenCrash.add(key);
      const isCrash = async (s: string) => {
        if (typeof parseOutcome(s, inp.file) !== "string") return false;
        const q = await evalOnWorker({ ...inp, src: s });
        return q !== "timeout" && !("workerError" in q) && q.kind === "crash" && `${q.name}: ${q.message?.split("\n")[0]}` === key;
      };
      const min = await minimise(inp.src, isCrash, Date.now() + 8000);
      crashes.push(`evaluation crash (${inp.how}, from ${inp.file || "token soup"}): ${r.name}: ${r.message}\n  minimised input: ${JSON.stringify(min)}`);
    }
  }
  console.log(`# eval fuzz: ${JSON.stringify(stats)} in ${Date.now() - start} ms`);
  assert.deepEqual(crashes, [], crashes.join("\n\n"));
});

// Found by this fuzzer (seed 20260125, token soup): `"\` at the end of the
// input. Nix 2.26: "error: syntax error, unexpected end of file, expecting '"'".
// Run in a child process with a small heap: the bug aborts the process.
test(
  "an unterminated string ending in a backslash is a syntax error",
  {},
  () => {
    for (const src of ['"\\', '"abc\\', '{ a = "x\\']) {
      const r = spawnSync(
        process.execPath,
        ["--max-old-space-size=256", "--import", "tsx", "-e", `import { parse } from ${JSON.stringify(join(repoRoot, "eval", "parser.ts"))}; try { parse(process.argv[1], "", "/"); console.log("parsed"); } catch (e) { console.log(e.name + ": " + e.message); }`, src],
        { encoding: "utf8", timeout: 30000, cwd: repoRoot },
      );
      assert.equal(r.status, 0, `${JSON.stringify(src)}: exit ${r.status} ${r.signal ?? ""}`);
      assert.match(r.stdout, /^ParseError: syntax error, unexpected end of file/, JSON.stringify(src));
    }
  },
);
