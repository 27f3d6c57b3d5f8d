// Failed fetches and killed copies leave no temp files behind: a fetch that
// fails (hash mismatch, connection dropped mid-body) removes what it wrote
// in TMPDIR, TVIX_HOME and the fetch cache; temp files of a `tvix copy`
// killed with SIGKILL are removed by the next process that opens the store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, watch, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runTvix } from "./helpers";
import { noise } from "./store-fixtures";

let work: string;
let server: Server;
let port: number;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "tvix-leftovers-"));
  server = createServer((req, res) => {
    if (req.url === "/drop") {
      // promises 1 MB, sends 64 KB, then drops the connection
      res.writeHead(200, { "content-length": String(1 << 20) });
      res.write(Buffer.alloc(64 * 1024, 1), () => req.socket.destroy());
      return;
    }
    res.end("some bytes\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

/** Runs tvix without blocking this process's event loop (the server above answers it). */
function tvixAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  p.stderr.on("data", (d) => (stderr += d));
  return new Promise((r) => p.on("exit", (status) => r({ status, stderr })));
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  const todo = existsSync(dir) ? [dir] : [];
  while (todo.length > 0) {
    const p = todo.pop()!;
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const q = join(p, e.name);
      out.push(q);
      if (e.isDirectory()) todo.push(q);
    }
  }
  return out;
}

const tempLike = (files: string[]) => files.filter((f) => /tmp|temp/i.test(f.slice(f.lastIndexOf("/") + 1)) && !f.endsWith("/tmp"));

test("failed fetches (hash mismatch, connection dropped mid-body) leave no temp files", async () => {
  const dir = join(work, "fetch");
  const env = { TMPDIR: join(dir, "tmp"), TVIX_HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "cache"), HOME: join(dir, "h"), NIX_CONFIG: "" };
  for (const d of [env.TMPDIR, env.TVIX_HOME, env.XDG_CACHE_HOME, env.HOME]) mkdirSync(d, { recursive: true });
  const sha = "0".repeat(52);
  for (const [path, want] of [["/ok", /hash mismatch/], ["/drop", /unable to download|terminated|closed|aborted|socket/i]] as const) {
    // read-only evaluation trusts a given hash; instantiate fetches and checks it
    const fetch = `builtins.fetchurl { url = "http://127.0.0.1:${port}${path}"; sha256 = "${sha}"; }`;
    const r = await tvixAsync(["instantiate", "-E", `builtins.derivation { name = "x"; system = "x"; builder = ${fetch}; }`], env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, want);
  }
  for (const d of [env.TMPDIR, env.TVIX_HOME, env.XDG_CACHE_HOME, env.HOME]) assert.deepEqual(tempLike(allFiles(d)), [], `temp files left in ${d}`);
  // tsx-*: the cache of tsx, which runs tvix from source here
  assert.deepEqual(readdirSync(env.TMPDIR).filter((n) => !n.startsWith("tvix-ts-") && !n.startsWith("tsx-")), [], "TMPDIR");
});

test("temp files of a tvix copy killed with SIGKILL are removed by the next run; the store verifies", { timeout: 60_000 }, async () => {
  const dir = join(work, "copy");
  const env = { TVIX_HOME: join(dir, "home"), NIX_CONFIG: "" };
  const tree = join(dir, "tree");
  mkdirSync(tree, { recursive: true });
  for (let i = 0; i < 8; i++) writeFileSync(join(tree, `f${i}`), noise(1024 * 1024, i));
  const src = `local://${join(dir, "src")}`;
  const path = runTvix(["store", "import", tree, "--store", src], { env }).stdout.trim();
  const dst = join(dir, "dst");
  mkdirSync(join(dst, "tmp"), { recursive: true });
  // a temp file of a process that is gone, and one of a live process (this one)
  const dead = spawnSync("true").pid!;
  writeFileSync(join(dst, "tmp", `${dead}-1-planted`), "x");
  writeFileSync(join(dst, "tmp", `${process.pid}-1-planted`), "x");
  // kill the copy as soon as it writes a temp file
  const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), "copy", "--no-check-sigs", "--from", src, "--to", `local://${dst}`, path], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: "ignore" });
  const w = watch(join(dst, "tmp"), () => p.kill("SIGKILL"));
  await new Promise((r) => p.on("exit", r));
  w.close();
  const ok = runTvix(["copy", "--no-check-sigs", "--from", src, "--to", `local://${dst}`, path], { env });
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(readdirSync(join(dst, "tmp")), [`${process.pid}-1-planted`]);
  const v = runTvix(["store", "verify", "--store", `local://${dst}`], { env });
  assert.equal(v.status, 0, v.stderr);
});
