// Fetchers try a download again after a transient failure (a dropped
// connection, HTTP 408/429/5xx), up to download-attempts tries, warning
// "error: unable to download 'URL': ...; retrying in N ms" before each, as
// Nix 2.26 does; a 404 is not tried again. Checked against Nix 2.26 on the
// same loopback server.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { nix226, oracleScript, repoRoot } from "./helpers";

const work = mkdtempSync(join(tmpdir(), "tvix-fetch-retries-"));
const closers: (() => void)[] = [];
after(() => {
  for (const c of closers) c();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Serves "hello\n" at every URL after the failures its name asks for:
 * /drop-503-NAME drops the first connection and answers 503 to the
 * second; /always-503-NAME always answers 503; /missing-NAME answers 404.
 * `hits` counts the requests per URL.
 */
async function flakyServer(): Promise<{ base: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const n = (hits.get(req.url!) ?? 0) + 1;
    hits.set(req.url!, n);
    if (req.url!.startsWith("/drop-503") && n === 1) return req.socket.destroy();
    if (req.url!.startsWith("/drop-503") && n === 2) return void res.writeHead(503).end();
    if (req.url!.startsWith("/always-503")) return void res.writeHead(503).end();
    if (req.url!.startsWith("/missing")) return void res.writeHead(404).end();
    res.end("hello\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => server.close());
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

/** Runs a command asynchronously (the server answers meanwhile), killing it after a minute. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const t = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) => child.on("close", (status) => (clearTimeout(t), resolve({ status, stdout, stderr }))));
}

const ours = (expr: string, options: string[] = []) =>
  run(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), "eval", ...options, "-E", expr], {
    XDG_CACHE_HOME: join(work, "cache"),
    TVIX_HOME: join(work, "home"),
    TVIX_HTTP_RETRY_BASE_MS: "5",
  });
const theirs = (expr: string, options: string[] = []) => run(oracleScript, ["nix-instantiate", "--eval", ...options, "-E", expr]);

const retryLines = (stderr: string) => stderr.split("\n").filter((l) => l.includes("retrying in"));

test("fetch retries: a dropped connection and a 503 are tried again, with Nix's warnings", async () => {
  const { base, hits } = await flakyServer();
  const url = `${base}/drop-503-a`;
  const r = await ours(`builtins.fetchurl "${url}"`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^"\/nix\/store\/[0-9a-z]{32}-drop-503-a"\n$/);
  assert.equal(hits.get("/drop-503-a"), 3);
  const lines = retryLines(r.stderr);
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0], new RegExp(`^warning: error: unable to download '${url}': .+; retrying in \\d+ ms$`));
  assert.match(lines[1], new RegExp(`^warning: error: unable to download '${url}': HTTP error 503; retrying in \\d+ ms$`));
});

test("fetch retries: Nix 2.26 warns the same way for the same server", { skip: nix226.skip }, async () => {
  const { base, hits } = await flakyServer();
  const url = `${base}/drop-503-b`;
  const mine = await ours(`builtins.fetchurl { url = "${url}"; name = "hello"; }`);
  const url2 = `${base}/drop-503-c`;
  const r = await theirs(`builtins.fetchurl { url = "${url2}"; name = "hello"; }`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(hits.get("/drop-503-c"), 3);
  // the same path for the same bytes and name, and the same second warning (the first names the dropped connection in curl's words)
  assert.equal(r.stdout, mine.stdout);
  const lines = retryLines(r.stderr);
  assert.equal(lines.length, 2, r.stderr);
  assert.equal(lines[1].replace(/\d+ ms$/, "N ms").replace(url2, url), retryLines(mine.stderr)[1].replace(/\d+ ms$/, "N ms"));
});

test("fetch retries: download-attempts bounds the tries; the last failure is the error", async () => {
  const { base, hits } = await flakyServer();
  const url = `${base}/always-503-d`;
  const r = await ours(`builtins.fetchurl "${url}"`, ["--option", "download-attempts", "3"]);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(hits.get("/always-503-d"), 3);
  assert.equal(retryLines(r.stderr).length, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`error: unable to download '${url}': HTTP error 503\\n`));
});

test("fetch retries: a 404 is not tried again (tvix and Nix 2.26)", async (t) => {
  const { base, hits } = await flakyServer();
  const r = await ours(`builtins.fetchTarball "${base}/missing-e.tar.gz"`);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(hits.get("/missing-e.tar.gz"), 1);
  assert.deepEqual(retryLines(r.stderr), []);
  assert.match(r.stderr, /unable to download '[^']+': HTTP error 404/);
  if (nix226.skip) return t.diagnostic(`Nix 2.26 not compared: ${nix226.skip}`);
  const n = await theirs(`builtins.fetchTarball "${base}/missing-f.tar.gz"`);
  assert.equal(n.status, 1, n.stderr);
  assert.equal(hits.get("/missing-f.tar.gz"), 1);
  assert.deepEqual(retryLines(n.stderr), []);
});
