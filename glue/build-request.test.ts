// Derivation -> BuildRequest, checked against what Nix 2.8 gave real builds
// (test/fixtures/builds/nix28: environments, passAsFile and
// exportReferencesGraph files, .attrs.json and .attrs.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDerivation } from "../core/derivation";
import type { CastoreNode, NixPathInfo } from "../stores/types";
import { buildRequestFor, inputRoots, outputChecks, type ClosureEntry, DerivationBuildError } from "./build-request";
import { JsonNumber, attrsShell, dumpJson, parseJson, JsonObject } from "./structured-attrs";

const fixtures = join(import.meta.dirname, "..", "test", "fixtures", "builds", "nix28");
const fixture = (n: string) => readFileSync(join(fixtures, n), "utf8");

const TOOLS = "/nix/store/jalnjkqga2c2h2ask38q893xr5yp9071-tools";
const BUSYBOX = "/nix/store/93hswik0brc6ppfajxk7zb4h1hkh5cb6-busybox";
const BASH = "/nix/store/gsmjp5dzhqrpk3ffx5p6d567nx3xzsag-bash";
const node = { type: "directory", name: new Uint8Array(), digest: new Uint8Array(32), size: 0n } as CastoreNode;
const info = (storePath: string, narHash: string, narSize: number, references: string[], ca?: string): NixPathInfo => ({ storePath, narHash, narSize, references, signatures: [], ca });
const entries: [string, ClosureEntry][] = [
  [BUSYBOX, { node, info: info(BUSYBOX, "sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611", 1982400, [], "fixed:r:sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611") }],
  [TOOLS, { node, info: info(TOOLS, "sha256:0sz8lagqwfhv6a1555csmxspqyfwqy3hg4zqwwmkzf9505knvw04", 65000, [BUSYBOX]) }],
  [BASH, { node, info: info(BASH, "sha256:1zgw5pigrr8i6lpmasw7z6yz5gcrri1dyxn2qljqg7s0m9wd4xrg", 2340696, []) }],
];
const closure = (...paths: string[]) => new Map(entries.filter(([p]) => paths.includes(p)));
const ctx = (...paths: string[]) => ({ storeDir: "/nix/store", closure: closure(...paths), cores: 1 });
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

test("plain derivations: Nix 2.8's environment, passAsFile files and reference graphs", () => {
  const drv = parseDerivation(fixture("pass-as-file.drv"));
  const req = buildRequestFor(drv, "/nix/store/x-paf.drv", ctx(TOOLS, BUSYBOX));
  // the builder's `env | sort`, less what the shell adds itself
  const seen = fixture("pass-as-file.env").split("\n").filter((l) => l && !l.startsWith("SHLVL="));
  assert.deepEqual(req.env.map(([k, v]) => `${k}=${v}`), seen);
  // its `for f in /build/.attr* /build/graph /build/g2; do echo "== $f"; cat $f; echo; done`
  const files = new Map(req.additionalFiles.map((f) => [f.path, f]));
  const order = [...files.keys()].filter((p) => p.startsWith("/build/.attr")).sort().concat(["/build/graph", "/build/g2"]);
  assert.equal(order.map((p) => `== ${p}\n${text(files.get(p)!.contents)}\n`).join(""), fixture("pass-as-file.files"));
  assert.equal(files.get("/build/graph")!.owner, "root");
  assert.equal(files.get("/build/.attr-1lak0mvllw8rv9i9ygkglvhqsq19qi9ynl4bi7gbf69ab5nzw89a")!.owner, "builder");
  assert.deepEqual(req.command, [drv.builder, ...drv.args]);
  assert.deepEqual(req.outputs, ["/nix/store/ziz79nqlzn7r85nyf7k7b9x3kizy90q7-paf"]);
  assert.deepEqual(req.scratchPaths, ["/build", "/nix/store", "/tmp"]);
  assert.equal(req.constraints.networkAccess, false);
  assert.deepEqual(req.inputs.map((i) => i.name), [BUSYBOX, TOOLS].map((p) => p.slice(11)));
  assert.deepEqual(req.refscanNeedles.sort(), ["93hswik0brc6ppfajxk7zb4h1hkh5cb6", "jalnjkqga2c2h2ask38q893xr5yp9071", "ziz79nqlzn7r85nyf7k7b9x3kizy90q7"]);
});

test("structured attributes: .attrs.json and .attrs.sh byte-identical to Nix 2.8's", () => {
  const drv = parseDerivation(fixture("structured.drv"));
  const req = buildRequestFor(drv, "/nix/store/x-sa.drv", ctx(TOOLS, BUSYBOX, BASH));
  const files = new Map(req.additionalFiles.map((f) => [f.path, text(f.contents)]));
  assert.equal(files.get("/build/.attrs.json"), fixture("structured.attrs.json"));
  assert.equal(files.get("/build/.attrs.sh"), fixture("structured.attrs.sh"));
  // no derivation attributes in the environment: the files carry them (2.26's file names)
  const env = new Map(req.env);
  assert.equal(env.get("NIX_ATTRS_JSON_FILE"), "/build/.attrs.json");
  assert.equal(env.get("NIX_ATTRS_SH_FILE"), "/build/.attrs.sh");
  assert.equal(env.has("name"), false);
  assert.equal(env.has("out"), false);
});

test("fixed-output derivations: the network, NIX_OUTPUT_CHECKED and impureEnvVars", () => {
  const drv = parseDerivation(fixture("pass-as-file.drv"));
  drv.outputs.set("out", { path: "/nix/store/ziz79nqlzn7r85nyf7k7b9x3kizy90q7-paf", hashAlgo: "sha256", hash: "00".repeat(32) });
  drv.env.set("impureEnvVars", "http_proxy NOT_SET");
  const req = buildRequestFor(drv, "/nix/store/x.drv", { ...ctx(TOOLS, BUSYBOX), hostEnv: { http_proxy: "http://proxy:3128" } });
  const env = new Map(req.env);
  assert.equal(req.constraints.networkAccess, true);
  assert.equal(env.get("NIX_OUTPUT_CHECKED"), "1");
  assert.equal(env.get("http_proxy"), "http://proxy:3128");
  assert.equal(env.get("NOT_SET"), "");
});

test("derivation variables override the defaults Nix sets first, not the ones it sets after", () => {
  const drv = parseDerivation(fixture("pass-as-file.drv"));
  for (const k of ["HOME", "NIX_BUILD_CORES", "TMPDIR", "TERM", "NIX_LOG_FD"]) drv.env.set(k, "mine");
  drv.env.delete("PATH");
  const env = new Map(buildRequestFor(drv, "/nix/store/x.drv", { ...ctx(TOOLS, BUSYBOX), cores: 7 }).env);
  assert.equal(env.get("HOME"), "mine");
  assert.equal(env.get("NIX_BUILD_CORES"), "mine");
  assert.equal(env.get("PATH"), "/path-not-set");
  assert.equal(env.get("TMPDIR"), "/build");
  assert.equal(env.get("TERM"), "xterm-256color");
  assert.equal(env.get("NIX_LOG_FD"), "2");
});

test("refused: __noChroot, a reference graph outside the input closure, deferred outputs", () => {
  const drv = parseDerivation(fixture("pass-as-file.drv"));
  drv.env.set("__noChroot", "1");
  assert.throws(() => buildRequestFor(drv, "/nix/store/x.drv", ctx(TOOLS, BUSYBOX)), /has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'/);
  drv.env.delete("__noChroot");
  assert.throws(() => buildRequestFor(drv, "/nix/store/x.drv", ctx(TOOLS)), (e: Error) => e instanceof DerivationBuildError && /not in the input closure/.test(e.message));
  drv.env.set("exportReferencesGraph", "../evil " + TOOLS);
  assert.throws(() => buildRequestFor(drv, "/nix/store/x.drv", ctx(TOOLS, BUSYBOX)), /invalid file name '\.\.\/evil'/);
  drv.env.delete("exportReferencesGraph");
  drv.outputs.get("out")!.path = "";
  assert.throws(() => buildRequestFor(drv, "/nix/store/x.drv", ctx(TOOLS, BUSYBOX)), /not implemented: .*content-addressed/);
});

test("input roots and output checks, plain and structured", () => {
  const drv = parseDerivation(fixture("pass-as-file.drv"));
  assert.deepEqual(inputRoots(drv, (d, o) => `${d}!${o}`), [BUSYBOX, "/nix/store/fa9nf88flka2gwzvfvcdqy0ii63vscms-tools.drv!out"]);
  drv.env.set("allowedReferences", "out " + TOOLS);
  const plain = outputChecks(drv).get("out")!;
  assert.deepEqual(plain.allowedReferences, ["out", TOOLS]);
  assert.equal(plain.disallowedReferences, undefined);
  assert.equal(plain.ignoreSelfRefs, true);
  const s = parseDerivation(fixture("structured.drv"));
  s.env.set("__json", '{"outputChecks":{"dev":{"allowedRequisites":["out"],"maxSize":100}}}');
  const checks = outputChecks(s);
  assert.deepEqual(checks.get("dev")!.allowedRequisites, ["out"]);
  assert.equal(checks.get("dev")!.maxSize, 100);
  assert.deepEqual(checks.get("out"), { ignoreSelfRefs: false });
});

test("structured-attrs JSON keeps numbers as written and sorts keys by bytes", () => {
  const v = parseJson('{"b":[12345678901234567890,1.0,-0.5e3],"a":"\\u0001\\u00e9\\ud83d\\ude00\\u007f","\\u00e9":1,"z":2}') as JsonObject;
  assert.equal(dumpJson(v), '{"a":"\\u0001é😀\x7f","b":[12345678901234567890,1.0,-0.5e3],"z":2,"é":1}');
  const sh = attrsShell(parseJson('{"big":5000000000,"neg":-3000000000,"f":1.5,"w":2.0,"t":true,"no":false,"n":null,"bad-name":1,"l":[1,"a b",false],"o":{"k":"v","j":1},"deep":{"x":[1]}}') as JsonObject);
  assert.equal(sh, "declare big=705032704\ndeclare -a l=(1 'a b'  )\ndeclare n=''\ndeclare neg=1294967296\ndeclare no=\ndeclare -A o=(['j']=1 ['k']='v' )\ndeclare t=1\ndeclare w=2\n");
  assert.ok(new JsonNumber("12").isInteger && !new JsonNumber("1.0").isInteger);
  assert.throws(() => parseJson('{"a":}'), /invalid JSON/);
});
