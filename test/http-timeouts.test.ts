// Downloads from a server that accepts and never answers, one that answers
// the head and then stalls, and one whose connections are never accepted:
// fetchers, http binary caches and s3 binary caches fail after
// stalled-download-timeout / connect-timeout (set to 1 s here, through
// NIX_CONFIG or --option) with the URL and the timeout in the error, as
// Nix does, instead of waiting for minutes.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer as createTcpServer, connect, type Socket } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { nix226, oracleScript, repoRoot } from "./helpers";

const work = mkdtempSync(join(tmpdir(), "tvix-http-timeouts-"));
const sockets = new Set<Socket>();
const closers: (() => void)[] = [];
after(() => {
  for (const s of sockets) s.destroy();
  for (const c of closers) c();
  rmSync(work, { recursive: true, force: true });
});

/** A server that accepts connections and says nothing. */
async function silentServer(): Promise<number> {
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** An HTTP server that serves nix-cache-info, and answers anything else with a head and 3 bytes of 1000, then nothing. */
async function stallingServer(): Promise<number> {
  const server = createHttpServer((req, res) => {
    sockets.add(req.socket);
    if (req.url === "/nix-cache-info") return void res.end("StoreDir: /nix/store\n");
    res.writeHead(200, { "content-length": "1000" });
    res.write("abc");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/**
 * A listening port whose connections are never accepted (a listen backlog
 * of 0, filled): connecting hangs. Made with python3, as node accepts every
 * connection; null where that cannot be had.
 */
async function unacceptingPort(): Promise<number | null> {
  if (spawnSync("sh", ["-c", "command -v python3"]).status !== 0) return null;
  const py = spawn("python3", ["-c", "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)"], { stdio: ["ignore", "pipe", "ignore"] });
  closers.push(() => py.kill());
  const port = await new Promise<number>((resolve) => py.stdout!.once("data", (d) => resolve(Number(String(d).trim()))));
  // fill the backlog, then check that one more connection hangs
  const probe = (): Promise<"connected" | "refused" | "hangs"> =>
    new Promise((resolve) => {
      const s = connect(port, "127.0.0.1");
      sockets.add(s);
      const t = setTimeout(() => resolve("hangs"), 500);
      s.on("connect", () => (clearTimeout(t), resolve("connected")));
      s.on("error", () => (clearTimeout(t), resolve("refused")));
    });
  for (let i = 0; i < 4; i++) if ((await probe()) === "hangs") return port;
  return null;
}

/** Runs tvix, killing it after a minute (a hang is a failure, not a stuck test). */
function tvix(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; killed: boolean; stderr: string }> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, XDG_CACHE_HOME: join(work, "cache"), TVIX_HOME: join(work, "home"), AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_EC2_METADATA_DISABLED: "true", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  let killed = false;
  const t = setTimeout(() => ((killed = true), child.kill("SIGKILL")), 60_000);
  return new Promise((resolve) => child.on("close", (status) => (clearTimeout(t), resolve({ status, killed, stderr }))));
}

const STALL_1S = { NIX_CONFIG: "stalled-download-timeout = 1\ndownload-attempts = 1" };
const STALLED = "timeout: no data received for 1 s (stalled-download-timeout)";
const NO_CONNECTION = "timeout: no connection within 1 s (connect-timeout)";
const MISSING = "/nix/store/" + "a".repeat(32) + "-x";

function assertFailed(r: { status: number | null; killed: boolean; stderr: string }, message: string): void {
  assert.ok(!r.killed, `still waiting after a minute; stderr:\n${r.stderr}`);
  assert.equal(r.status, 1, r.stderr);
  assert.ok(r.stderr.includes(message), `expected '${message}' in:\n${r.stderr}`);
}

test("download timeouts: fetchurl from a server that never answers", async () => {
  const port = await silentServer();
  const url = `http://127.0.0.1:${port}/x`;
  assertFailed(await tvix(["eval", "-E", `builtins.fetchurl "${url}"`], STALL_1S), `unable to download '${url}': ${STALLED}`);
});

test("download timeouts: Nix 2.26 fails the same fetchurl after stalled-download-timeout", { skip: nix226.skip }, async () => {
  const port = await silentServer();
  const url = `http://127.0.0.1:${port}/x`;
  const child = spawn(oracleScript, ["nix-instantiate", "--eval", "--option", "stalled-download-timeout", "1", "--option", "download-attempts", "1", "-E", `builtins.fetchurl "${url}"`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const t = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const status = await new Promise<number | null>((resolve) => child.on("close", (c) => (clearTimeout(t), resolve(c))));
  assert.equal(status, 1, stderr);
  assert.ok(stderr.includes(`unable to download '${url}': Timeout was reached`), stderr);
});

test("download timeouts: fetchTarball from a server that stalls in the body (--option)", async () => {
  const port = await stallingServer();
  const url = `http://127.0.0.1:${port}/x.tar.gz`;
  const r = await tvix(["eval", "--option", "stalled-download-timeout", "1", "-E", `builtins.fetchTarball "${url}"`]);
  assertFailed(r, `unable to download '${url}': ${STALLED}`);
});

test("download timeouts: fetchGit from an http server that never answers (git's low-speed limit)", { skip: spawnSync("sh", ["-c", "command -v git"]).status !== 0 && "git not installed" }, async () => {
  const port = await silentServer();
  const url = `http://127.0.0.1:${port}/repo`;
  const r = await tvix(["eval", "-E", `builtins.fetchGit "${url}"`], STALL_1S);
  assertFailed(r, `unable to access '${url}/': Operation too slow. Less than 1 bytes/sec transferred the last 1 seconds`);
});

test("download timeouts: fetchurl to a port that never accepts (connect-timeout)", async (t) => {
  const port = await unacceptingPort();
  if (port === null) return t.skip("no listening port that leaves connections hanging here (needs python3)");
  const url = `http://127.0.0.1:${port}/x`;
  assertFailed(await tvix(["eval", "-E", `builtins.fetchurl "${url}"`], { NIX_CONFIG: "connect-timeout = 1\ndownload-attempts = 1" }), `unable to download '${url}': ${NO_CONNECTION}`);
});

test("download timeouts: an http binary cache that never answers, and one that stalls in a body", async () => {
  const silent = await silentServer();
  let r = await tvix(["copy", "--from", `http://127.0.0.1:${silent}`, "--to", "memory://", MISSING], STALL_1S);
  assertFailed(r, `GET http://127.0.0.1:${silent}/nix-cache-info: ${STALLED}`);
  const stalling = await stallingServer();
  r = await tvix(["copy", "--from", `http://127.0.0.1:${stalling}`, "--to", "memory://", MISSING], STALL_1S);
  assertFailed(r, `GET http://127.0.0.1:${stalling}/${"a".repeat(32)}.narinfo: ${STALLED}`);
});

test("download timeouts: a substituter that never answers is skipped with a warning, as Nix (tvix build --dry-run)", async () => {
  const silent = await silentServer();
  const r = await tvix(["build", "--dry-run", join(repoRoot, "examples"), "-A", "trivial", "--arg", "salt", `"http-timeouts-${process.pid}"`], {
    NIX_CONFIG: `substituters = http://127.0.0.1:${silent}\nstalled-download-timeout = 1\ndownload-attempts = 1`,
  });
  assert.ok(!r.killed, r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stderr.includes(`warning: GET http://127.0.0.1:${silent}/nix-cache-info: ${STALLED}; skipping the substituter 'http://127.0.0.1:${silent}'`), r.stderr);
  assert.match(r.stderr, /will be built:\n(?:  .*\n)*  .*-trivial\.drv/);
});

test("download timeouts: an s3 binary cache whose endpoint never answers, and one that never accepts", async (t) => {
  const silent = await silentServer();
  const r = await tvix(["copy", "--from", `s3://bucket?endpoint=http://127.0.0.1:${silent}&region=us-east-1`, "--to", "memory://", MISSING], STALL_1S);
  assertFailed(r, `s3://bucket/nix-cache-info: ${STALLED}`);
  const port = await unacceptingPort();
  if (port === null) return t.skip("no listening port that leaves connections hanging here (needs python3)");
  const c = await tvix(["copy", "--from", `s3://bucket?endpoint=http://127.0.0.1:${port}&region=us-east-1`, "--to", "memory://", MISSING], { NIX_CONFIG: "connect-timeout = 1\ndownload-attempts = 1" });
  assertFailed(c, `s3://bucket/nix-cache-info: ${NO_CONNECTION}`);
});
