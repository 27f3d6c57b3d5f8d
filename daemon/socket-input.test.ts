import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Socket, createConnection, createServer } from "node:net";
import { reusingInput } from "./socket-input";

/** Byte i of the test stream. */
const byteAt = (i: number) => (i * 31 + (i >> 11)) & 0xff;

async function withServer(body: (accepted: Promise<Socket>, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "socket-input-"));
  const path = join(dir, "s");
  let take!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (take = r));
  const server = createServer({ pauseOnConnect: true }, take);
  await new Promise<void>((r) => server.listen(path, r));
  try {
    await body(accepted, path);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a slow reader gets every byte in order; a chunk stays intact while the next three are taken", async () => {
  const total = 6 * 1024 * 1024;
  await withServer(async (accepted, path) => {
    const client = createConnection(path);
    const sending = (async () => {
      // writes of odd sizes, faster than the reader takes them (reading pauses and resumes)
      for (let at = 0, k = 0; at < total; k++) {
        const n = Math.min(total - at, 1000 + ((k * 7919) % 90_000));
        const b = Buffer.allocUnsafe(n);
        for (let i = 0; i < n; i++) b[i] = byteAt(at + i);
        at += n;
        if (!client.write(b)) await new Promise((r) => client.once("drain", r));
      }
      client.end();
    })();
    const r = reusingInput(await accepted);
    assert.ok(r, "the accepted socket's handle is taken over");
    const it = r.input[Symbol.asyncIterator]();
    const recent: { chunk: Uint8Array; at: number }[] = [];
    const intact = (c: { chunk: Uint8Array; at: number }) => c.chunk.every((v, i) => v === byteAt(c.at + i));
    let at = 0;
    for (let k = 0; ; k++) {
      const n = await it.next();
      if (n.done) break;
      // the previous three chunks are still as received
      for (const c of recent) assert.ok(intact(c), `chunk at ${c.at} was overwritten while still valid`);
      recent.push({ chunk: n.value, at });
      if (recent.length > 3) recent.shift();
      assert.ok(intact(recent[recent.length - 1]), `bytes at ${at} differ from those sent`);
      at += n.value.length;
      if (k % 16 === 0) await new Promise((res) => setTimeout(res, 2));
    }
    assert.equal(at, total);
    await sending;
    r.socket.destroy();
  });
});

test("writes go through the new socket; the client closing ends the input", async () => {
  await withServer(async (accepted, path) => {
    const client = createConnection(path);
    const echoed = new Promise<string>((resolve) => {
      let got = "";
      client.on("data", (d) => (got += d));
      client.on("end", () => resolve(got));
    });
    client.write("ping");
    const r = reusingInput(await accepted)!;
    const it = r.input[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(Buffer.from(first.value!).toString(), "ping");
    r.socket.write("pong");
    r.socket.end();
    client.end();
    assert.equal(await echoed, "pong");
    assert.equal((await it.next()).done, true);
  });
});
