// `tvix store daemon` as a process: SIGTERM lets a running operation finish
// and then exits cleanly; --stdio serves one client on stdin/stdout;
// `tvix store gc` and `tvix store roots` run the same collector on a local
// store directly, and refuse while a daemon serves it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonConnection } from "../stores/daemon-client";
import { Op, WORKER_MAGIC_1, Stderr, protocolVersion, writeValidPathInfo } from "../core/daemon-protocol";
import { WireReader, WireWriter } from "../core/wire";
import { hashBytes } from "../core/hash";
import { makeTextPath } from "../core/store-path";
import { narFromTree } from "../core/nar";
import { openLocalStore } from "../stores/local";
import { repoRoot, runTvix } from "./helpers";
import { startTvixDaemon } from "./daemon-harness";

function textPath(text: string) {
  const nar = narFromTree({ type: "regular", executable: false, contents: new TextEncoder().encode(text) });
  const h = hashBytes("sha256", text);
  return {
    nar,
    wire: { path: makeTextPath("t", h, []).toAbsolute(), deriver: "", narHash: hashBytes("sha256", nar).toBase16(), references: [], registrationTime: 0, narSize: nar.length, ultimate: false, signatures: [], ca: `text:${h.toString()}` },
  };
}

test("SIGTERM: the running operation finishes, idle clients are closed, the daemon exits 0 and removes its socket", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-daemon-term-"));
  try {
    const d = await startTvixDaemon(dir);
    const idle = await DaemonConnection.connect(d.socket);
    const busy = await DaemonConnection.connect(d.socket);
    const t = textPath("x".repeat(300_000));
    const w = new WireWriter().u64(Op.AddToStoreNar);
    writeValidPathInfo(w, busy.version, t.wire).bool(false).bool(false);
    const half = t.nar.length >> 1;
    await busy.send(w.frame(t.nar.subarray(0, half)));
    await new Promise((r) => setTimeout(r, 300));
    d.proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d.proc.exitCode, null, "the daemon waits for the running operation");
    await busy.send(new WireWriter().frame(t.nar.subarray(half)).frame(new Uint8Array(0)));
    await busy.processStderr();
    assert.equal(await d.stop(), 0, d.log());
    assert.equal(existsSync(d.socket), false);
    idle.close();
    busy.close();
    const store = openLocalStore(join(dir, "store"));
    assert.ok(await store.queryPathInfo(t.wire.path), "the path added during shutdown is valid");
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--stdio serves one client on stdin/stdout", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-daemon-stdio-"));
  try {
    const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), "store", "daemon", "--stdio", "--store", `local://${dir}/store`], {
      cwd: repoRoot,
      env: { ...process.env, TVIX_HOME: join(dir, "home") },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const r = new WireReader(p.stdout);
    p.stdin.write(new WireWriter().u64(WORKER_MAGIC_1).u64(protocolVersion(37)).u64(0).u64(0).take());
    await r.u64(); // magic 2
    await r.u64(); // daemon version
    assert.match(await r.string(), /^tvix-ts /);
    assert.equal(await r.u64(), 1, "the user running it is trusted (root)");
    assert.equal(await r.u64(), Stderr.LAST);
    p.stdin.write(new WireWriter().u64(Op.AddTextToStore).string("hello").string("hi").strings([]).take());
    assert.equal(await r.u64(), Stderr.LAST);
    assert.equal(await r.string(), makeTextPath("hello", hashBytes("sha256", "hi"), []).toAbsolute());
    p.stdin.end();
    const code = await new Promise((res) => p.on("exit", res));
    assert.equal(code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tvix store gc and roots on a local store: roots kept, the rest deleted; refused while a daemon serves it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-store-gc-"));
  try {
    const storeUrl = `local://${dir}/store`;
    const a = join(dir, "a");
    const b = join(dir, "b");
    mkdirSync(a);
    mkdirSync(b);
    const pa = runTvix(["store", "import", a, "--store", storeUrl]).stdout.trim();
    const pb = runTvix(["store", "import", b, "--store", storeUrl]).stdout.trim();
    assert.notEqual(pa, pb);
    const gcroots = join(dir, "store", "root", "nix", "var", "nix", "gcroots");
    mkdirSync(gcroots, { recursive: true });
    symlinkSync(pa, join(gcroots, "keep"));
    let r = runTvix(["store", "roots", "--store", storeUrl]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${join(gcroots, "keep")} -> ${pa}\n`);
    r = runTvix(["store", "gc", "--print-dead", "--store", storeUrl]);
    assert.equal(r.stdout, `${pb}\n`);
    // while a daemon serves the store, collect through it
    const served = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), "store", "daemon", "--store", storeUrl, "--listen", `unix://${dir}/s`], {
      cwd: repoRoot,
      env: { ...process.env, TVIX_HOME: join(dir, "home") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    served.stderr.on("data", (x) => (log += x));
    for (let i = 0; i < 300 && !/serving/.test(log); i++) await new Promise((res) => setTimeout(res, 30));
    r = runTvix(["store", "gc", "--store", storeUrl]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /a daemon \(pid \d+\) serves this store: collect through it/);
    r = runTvix(["store", "gc", "--store", `unix://${dir}/s`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /1 store paths deleted/);
    served.kill("SIGTERM");
    await new Promise((res) => served.on("exit", res));
    r = runTvix(["store", "path-info", pa, "--store", storeUrl]);
    assert.equal(r.status, 0);
    r = runTvix(["store", "path-info", pb, "--store", storeUrl]);
    assert.notEqual(r.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
