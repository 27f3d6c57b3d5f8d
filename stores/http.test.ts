// stores/http.ts against servers on loopback: redirects, Content-Encoding,
// and the stalled-download timeout while waiting for the head or the body.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { DEFAULT_HTTP_LIMITS, HttpTimeout, httpRequest } from "./http";

const sockets = new Set<Socket>();
const server = createServer((req, res: ServerResponse) => {
  sockets.add(req.socket);
  if (req.url === "/moved") return void res.writeHead(302, { location: "/gz" }).end();
  if (req.url === "/gz") return void res.writeHead(200, { "content-encoding": "gzip" }).end(gzipSync("hello, decoded"));
  if (req.url === "/silent") return; // no answer
  // a head and part of the body, then nothing
  res.writeHead(200, { "content-length": "100" });
  res.write("abc");
});
const ready = new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});
const base = async () => (await ready, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
const limits = { ...DEFAULT_HTTP_LIMITS, stalledDownloadTimeout: 1 };

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of body) parts.push(Buffer.from(p));
  return Buffer.concat(parts).toString();
}

test("http: redirects are followed and a gzip Content-Encoding is undone", async () => {
  const res = await httpRequest(`${await base()}/moved`, { limits });
  assert.equal(res.status, 200);
  assert.equal(res.url, `${await base()}/gz`);
  assert.equal(await text(res.body), "hello, decoded");
});

test("http: a server that never answers fails after stalled-download-timeout", async () => {
  await assert.rejects(httpRequest(`${await base()}/silent`, { limits }), (e) => e instanceof HttpTimeout && /no data received for 1 s \(stalled-download-timeout\)/.test(e.message));
});

test("http: a body that stalls fails after stalled-download-timeout", async () => {
  const res = await httpRequest(`${await base()}/stall`, { limits });
  assert.equal(res.status, 200);
  await assert.rejects(text(res.body), (e) => e instanceof HttpTimeout);
});

test("http: a slow reader is not a stall (only waits for the server count)", async () => {
  const res = await httpRequest(`${await base()}/gz`, { limits: { ...DEFAULT_HTTP_LIMITS, stalledDownloadTimeout: 1 } });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await text(res.body), "hello, decoded");
});
