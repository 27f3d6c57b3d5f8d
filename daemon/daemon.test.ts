// The listener at the protocol level, in this process over a real unix
// socket (no Nix needed): every client version's handshake and the formats
// that change with it, errors that keep the connection usable, malformed
// input that ends only its own connection, and many concurrent clients.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createConnection, type Socket } from "node:net";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonConnection, DaemonError } from "../stores/daemon-client";
import { openMemoryStore } from "../stores/memory";
import { Op, SERVER_PROTOCOL, WORKER_MAGIC_1, minorOf, protocolVersion, readUnkeyedPathInfo, writeValidPathInfo } from "../core/daemon-protocol";
import { WireWriter } from "../core/wire";
import { hashBytes } from "../core/hash";
import { makeFixedOutputPath, makeTextPath } from "../core/store-path";
import { narFromTree, type NarNode } from "../core/nar";
import { ServedStore } from "./served-store";
import { DaemonServer } from "./server";
import { defaultSettings } from "./settings";
import type { CastoreNixStore } from "../stores/castore-store";

let dir: string;
let sock: string;
let store: CastoreNixStore;
let served: ServedStore;
let server: DaemonServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tvix-daemon-proto-"));
  sock = join(dir, "sock");
  store = openMemoryStore();
  served = new ServedStore({ store, fsRoot: join(dir, "root"), settings: defaultSettings() });
  server = new DaemonServer({ store: served, nixVersion: "tvix-ts test", forceTrusted: true, log: () => {} });
  await server.listen(sock);
});

after(async () => {
  await server.shutdown(1000);
  rmSync(dir, { recursive: true, force: true });
});

const connect = (offer?: number) => DaemonConnection.connect(sock, () => {}, offer);

/** A text file's NAR and the path info that goes with it (content-addressed, so no signature is needed). */
function textPath(text: string, refs: string[] = []) {
  const nar = narFromTree({ type: "regular", executable: false, contents: new TextEncoder().encode(text) });
  const h = hashBytes("sha256", text);
  const path = makeTextPath("t", h, refs).toAbsolute();
  return {
    nar,
    wire: { path, deriver: "", narHash: hashBytes("sha256", nar).toBase16(), references: refs, registrationTime: 0, narSize: nar.length, ultimate: false, signatures: [], ca: `text:${h.toString()}` },
  };
}

async function isValid(c: DaemonConnection, path: string): Promise<boolean> {
  await c.send(new WireWriter().u64(Op.IsValidPath).string(path));
  await c.processStderr();
  return c.reader.bool();
}

/** AddToStoreNar with a framed NAR (1.23+). */
async function addNar(c: DaemonConnection, t: ReturnType<typeof textPath>, nar = t.nar): Promise<void> {
  const w = new WireWriter().u64(Op.AddToStoreNar);
  writeValidPathInfo(w, c.version, t.wire).bool(false).bool(false);
  for (let i = 0; i < nar.length; i += 7) w.frame(nar.subarray(i, i + 7));
  await c.send(w.frame(new Uint8Array(0)));
  await c.processStderr();
}

test("every client version from 1.10 to 1.38 gets its own version, and 1.35+ learns it is trusted", async () => {
  for (const minor of [10, 11, 14, 16, 17, 20, 21, 23, 25, 26, 27, 29, 30, 32, 33, 34, 35, 37, 38, 39]) {
    const c = await connect(protocolVersion(minor)).catch((e) => e);
    if (minor < 17) {
      // our client refuses daemons older than 1.17, and sees ours as 1.38 anyway
      assert.ok(c instanceof DaemonConnection, String(c));
    }
    const conn = c as DaemonConnection;
    assert.equal(conn.version, Math.min(protocolVersion(minor), SERVER_PROTOCOL));
    assert.equal(conn.trusted, minor >= 35 ? true : undefined);
    assert.equal(conn.daemonNixVersion, minor >= 33 ? "tvix-ts test" : undefined);
    assert.equal(await isValid(conn, "/nix/store/00000000000000000000000000000000-x"), false);
    conn.close();
  }
});

test("QueryPathInfo: a flag from 1.17, an error before; signatures and CA from 1.16", async () => {
  const t = textPath("query-path-info");
  const c37 = await connect();
  await addNar(c37, t);
  for (const minor of [15, 16, 17, 37]) {
    const c = await connect(protocolVersion(minor));
    await c.send(new WireWriter().u64(Op.QueryPathInfo).string(t.wire.path));
    await c.processStderr();
    if (minor >= 17) assert.equal(await c.reader.bool(), true);
    const info = await readUnkeyedPathInfo(c.reader, c.version, t.wire.path);
    assert.equal(info.narHash, t.wire.narHash);
    assert.equal(info.ca, minor >= 16 ? t.wire.ca : "");
    const missing = "/nix/store/00000000000000000000000000000000-missing";
    await c.send(new WireWriter().u64(Op.QueryPathInfo).string(missing));
    if (minor >= 17) {
      await c.processStderr();
      assert.equal(await c.reader.bool(), false);
    } else {
      // the old error format: message and exit status
      await assert.rejects(c.processStderr(), (e: DaemonError) => e.message === `path '${missing}' is not valid` && e.status === 1);
      assert.equal(await isValid(c, t.wire.path), true, "the connection works after the error");
    }
    c.close();
  }
  c37.close();
});

test("old AddToStore (NAR sent raw, before 1.25) and AddToStoreNar through STDERR_READ (1.21-1.22)", async () => {
  const c = await connect(protocolVersion(21));
  const contents = new TextEncoder().encode("flat file\n");
  const nar = narFromTree({ type: "regular", executable: false, contents });
  // flat sha1: the path is named after the file's hash
  await c.send(new WireWriter().u64(Op.AddToStore).string("flat").bool(true).u64(0).string("sha1").raw(nar));
  await c.processStderr();
  assert.equal(await c.reader.string(), makeFixedOutputPath("flat", hashBytes("sha1", contents), false).toAbsolute());
  // not fixed: sha256 of the NAR, recursive
  await c.send(new WireWriter().u64(Op.AddToStore).string("rec").bool(false).u64(0).string("md5").raw(nar));
  await c.processStderr();
  assert.equal(await c.reader.string(), makeFixedOutputPath("rec", hashBytes("sha256", nar), true).toAbsolute());
  // AddToStoreNar at 1.21: the daemon asks for the NAR piece by piece
  const t = textPath("through STDERR_READ");
  const w = new WireWriter().u64(Op.AddToStoreNar);
  writeValidPathInfo(w, c.version, t.wire).bool(false).bool(false);
  await c.send(w);
  let at = 0;
  await c.processStderr({
    read: (n) => {
      const b = t.nar.subarray(at, at + Math.min(n, 5));
      at += b.length;
      return b;
    },
  });
  assert.equal(at, t.nar.length);
  assert.equal(await isValid(c, t.wire.path), true);
  c.close();
});

test("a NAR not matching its hash, size or content address fails the operation, registers nothing, and the connection goes on", async () => {
  const c = await connect();
  const t = textPath("mismatch");
  const bad = new Uint8Array(t.nar);
  bad[bad.length - 20] ^= 1;
  await assert.rejects(addNar(c, t, bad), /hash mismatch importing path/);
  assert.equal(await isValid(c, t.wire.path), false);
  // right hash, wrong content address
  const other = textPath("other");
  const lying = { ...t, wire: { ...t.wire, path: makeTextPath("t", hashBytes("sha256", "other"), []).toAbsolute(), ca: other.wire.ca } };
  await assert.rejects(addNar(c, lying), /ca hash mismatch importing path/);
  assert.equal(await isValid(c, lying.wire.path), false);
  // a reference that is not valid
  const dangling = textPath("dangling", ["/nix/store/00000000000000000000000000000000-gone"]);
  await assert.rejects(addNar(c, dangling), /path '\/nix\/store\/0+-gone' is not valid/);
  // a truncated NAR (its frames end early)
  await assert.rejects(addNar(c, t, t.nar.subarray(0, 40)), /size mismatch|bad NAR/);
  assert.equal(await isValid(c, t.wire.path), false);
  await addNar(c, t);
  assert.equal(await isValid(c, t.wire.path), true);
  assert.equal(existsSync(join(dir, "root", t.wire.path)), true, "the file is on disk once valid");
  c.close();
});

/** A recursive content-addressed path of a NAR (no signature needed), as sent on the wire. */
function narPath(name: string, nar: Uint8Array) {
  const h = hashBytes("sha256", nar);
  const path = makeFixedOutputPath(name, h, true).toAbsolute();
  return { nar, wire: { path, deriver: "", narHash: h.toBase16(), references: [], registrationTime: 0, narSize: nar.length, ultimate: false, signatures: [], ca: `fixed:r:${h.toString()}` } };
}

/** AddMultipleToStore of `paths`, unchecked by the client, in 1000-byte frames. */
async function addMultiple(c: DaemonConnection, paths: ReturnType<typeof narPath>[]): Promise<void> {
  const body = new WireWriter().u64(paths.length);
  for (const p of paths) writeValidPathInfo(body, c.version, p.wire).raw(p.nar);
  const bytes = body.take();
  const w = new WireWriter().u64(Op.AddMultipleToStore).bool(false).bool(true);
  for (let i = 0; i < bytes.length; i += 1000) w.frame(bytes.subarray(i, i + 1000));
  await c.send(w.frame(new Uint8Array(0)));
  await c.processStderr();
}

test("AddMultipleToStore: trees are stored and written under the root as sent; a NAR that does not match, or is malformed, registers nothing", async () => {
  const c = await connect();
  const tree: NarNode = {
    type: "directory",
    entries: new Map<string, NarNode>([
      ["bin", { type: "directory", entries: new Map<string, NarNode>([["run", { type: "regular", executable: true, contents: new TextEncoder().encode("#!/bin/sh\n") }]]) }],
      ["data", { type: "regular", executable: false, contents: new Uint8Array(100_000).fill(7) }],
      ["empty", { type: "directory", entries: new Map() }],
      ["link", { type: "symlink", target: "bin/run" }],
    ]),
  };
  const paths = [narPath("tree", narFromTree(tree)), narPath("single", narFromTree({ type: "regular", executable: false, contents: new TextEncoder().encode("alone") }))];
  await addMultiple(c, paths);
  for (const p of paths) {
    assert.equal(await isValid(c, p.wire.path), true);
    const info = (await c.queryPathInfo(p.wire.path))!;
    const back: Uint8Array[] = [];
    for await (const b of c.narFromPath(p.wire.path, info, "the daemon")) back.push(b);
    assert.equal(Buffer.compare(Buffer.concat(back), p.nar), 0);
  }
  const onDisk = join(dir, "root", paths[0].wire.path);
  assert.equal(statSync(join(onDisk, "bin", "run")).mode & 0o777, 0o555);
  assert.equal(statSync(join(onDisk, "data")).mode & 0o777, 0o444);
  assert.equal(statSync(join(onDisk, "empty")).isDirectory(), true);
  assert.equal(readlinkSync(join(onDisk, "link")), "bin/run");
  assert.equal(readFileSync(join(dir, "root", paths[1].wire.path), "utf8"), "alone");
  // a byte changed after hashing
  const changed = narPath("changed", new Uint8Array(narFromTree({ type: "regular", executable: false, contents: new TextEncoder().encode("changed") })));
  changed.nar[changed.nar.length - 20] ^= 1;
  // entries out of order, hashed as they are: a malformed NAR
  const nar = Buffer.from(narFromTree({ type: "directory", entries: new Map<string, NarNode>([["a", { type: "symlink", target: "x" }], ["b", { type: "symlink", target: "y" }]]) }));
  const at = nar.indexOf("a\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0node");
  const bt = nar.indexOf("b\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0node");
  assert.ok(at > 0 && bt > 0);
  [nar[at], nar[bt]] = [nar[bt], nar[at]];
  const swapped = narPath("swapped", new Uint8Array(nar));
  // large NARs: a changed byte, a text path whose contents are not its address
  const bigText = (seed: number, size = 400_000) => {
    const contents = new Uint8Array(size).map((_, i) => (i * 31 + seed) & 0xff);
    const nar = narFromTree({ type: "regular", executable: false, contents });
    const h = hashBytes("sha256", contents);
    return { nar, wire: { path: makeTextPath("big", h, []).toAbsolute(), deriver: "", narHash: hashBytes("sha256", nar).toBase16(), references: [], registrationTime: 0, narSize: nar.length, ultimate: false, signatures: [], ca: `text:${h.toString()}` } };
  };
  const bigChanged = bigText(1);
  bigChanged.nar = new Uint8Array(bigChanged.nar);
  bigChanged.nar[bigChanged.nar.length - 1000] ^= 1;
  const bigLying = bigText(2);
  bigLying.wire = { ...bigLying.wire, ca: bigText(3).wire.ca };
  const bigGood = bigText(4);
  for (const [p, why] of [
    [changed, /hash mismatch importing path/],
    [swapped, /bad NAR: directory entries not sorted/],
    [bigChanged, /Error: hash mismatch importing path '[^']+';\n  specified: sha256:[0-9a-z]{52}\n  got:       sha256:[0-9a-z]{52}$/],
    [bigLying, /Error: ca hash mismatch importing path/],
  ] as const) {
    await assert.rejects(addMultiple(c, [p]), why);
    assert.equal(await isValid(c, p.wire.path), false);
    assert.equal(existsSync(join(dir, "root", p.wire.path)), false);
  }
  // a file large enough to be hashed for the castore on the blob hashing thread
  const hugeGood = bigText(5, 3_000_000);
  await addMultiple(c, [bigGood, hugeGood]);
  assert.equal(await isValid(c, bigGood.wire.path), true);
  assert.equal(statSync(join(dir, "root", bigGood.wire.path)).size, 400_000);
  assert.equal(Buffer.compare(readFileSync(join(dir, "root", hugeGood.wire.path)), hugeGood.nar.subarray(hugeGood.nar.length - 3_000_000 - 8 - 8, hugeGood.nar.length - 16)), 0);
  const info = (await c.queryPathInfo(hugeGood.wire.path))!;
  const back: Uint8Array[] = [];
  for await (const b of c.narFromPath(hugeGood.wire.path, info, "the daemon")) back.push(b);
  assert.equal(Buffer.compare(Buffer.concat(back), hugeGood.nar), 0);
  c.close();
});

/** Raw bytes to the daemon; resolves with everything it sent back once it closes (or after `ms`). */
function rawExchange(bytes: Uint8Array, ms = 2000): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s: Socket = createConnection(sock);
    const parts: Buffer[] = [];
    let closed = false;
    const timer = setTimeout(() => (s.destroy(), resolve({ reply: Buffer.concat(parts), closed })), ms);
    s.on("data", (d) => parts.push(d));
    s.on("error", () => {});
    s.on("close", () => {
      closed = true;
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(parts), closed });
    });
    s.write(bytes);
  });
}

function hello(minor = 37): WireWriter {
  return new WireWriter().u64(WORKER_MAGIC_1).u64(protocolVersion(minor)).u64(0).u64(0);
}

test("malformed input ends that connection with an error, never the daemon", async () => {
  // bad magic: closed at once
  let r = await rawExchange(new WireWriter().u64(0x1234).take());
  assert.ok(r.closed);
  // an unknown operation: STDERR_ERROR, then closed
  r = await rawExchange(hello().u64(999).take());
  assert.ok(r.closed);
  assert.ok(r.reply.includes(Buffer.from("invalid operation 999")));
  // a string claiming 2^62 bytes
  r = await rawExchange(hello().u64(Op.IsValidPath).u64(1n << 62n).take());
  assert.ok(r.closed);
  assert.ok(r.reply.includes(Buffer.from("refusing a")));
  // a frame claiming 2^40 bytes
  const t = textPath("huge frame");
  const w = hello().u64(Op.AddToStoreNar);
  writeValidPathInfo(w, protocolVersion(37), t.wire).bool(false).bool(false).u64(1n << 40n);
  r = await rawExchange(w.take());
  assert.ok(r.closed);
  // a frame cut short by the client going away
  const w2 = hello().u64(Op.AddToStoreNar);
  writeValidPathInfo(w2, protocolVersion(37), t.wire).bool(false).bool(false).u64(t.nar.length).raw(t.nar.subarray(0, 10));
  const s = createConnection(sock);
  s.on("error", () => {});
  s.resume();
  s.end(w2.take());
  await new Promise((res) => s.on("close", res));
  // none of that stopped the daemon or registered anything
  const c = await connect();
  assert.equal(await isValid(c, t.wire.path), false);
  assert.equal(minorOf(c.version), 35);
  c.close();
});

test("64 concurrent clients query and add at once", async () => {
  const conns = await Promise.all(Array.from({ length: 64 }, () => connect()));
  const paths = await Promise.all(
    conns.map(async (c, i) => {
      const t = textPath(`concurrent ${i}`);
      await addNar(c, t);
      for (let k = 0; k < 20; k++) {
        await c.send(new WireWriter().u64(Op.QueryPathInfo).string(t.wire.path));
        await c.processStderr();
        assert.equal(await c.reader.bool(), true);
        await readUnkeyedPathInfo(c.reader, c.version, t.wire.path);
      }
      return t.wire.path;
    }),
  );
  assert.equal(new Set(paths).size, 64);
  for (const c of conns) c.close();
  const c = await connect();
  await c.send(new WireWriter().u64(Op.QueryValidPaths).strings(paths).bool(false));
  await c.processStderr();
  assert.equal((await c.reader.strings()).length, 64);
  c.close();
});

test("log messages reach the client during the work phase", async () => {
  const c = await connect();
  const logs: string[] = [];
  const c2 = await DaemonConnection.connect(sock, (m) => logs.push(m.text));
  // VerifyStore logs at the info level
  await c2.send(new WireWriter().u64(Op.VerifyStore).bool(false).bool(false));
  await c2.processStderr();
  assert.equal(await c2.reader.bool(), false);
  assert.ok(logs.includes("reading the Nix store..."), logs.join("|"));
  c2.close();
  c.close();
});
