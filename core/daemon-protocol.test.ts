import { test } from "node:test";
import assert from "node:assert/strict";
import { WireReader, WireWriter } from "./wire";
import {
  BuildStatus,
  type BuildResult,
  Stderr,
  formatDerivedPath,
  parseDerivedPath,
  protocolVersion,
  readBasicDerivation,
  readBuildResult,
  readClientSettings,
  readStderrError,
  readUnkeyedPathInfo,
  readValidPathInfo,
  readValidPathInfoNow,
  writeBasicDerivation,
  writeBuildResult,
  writeClientSettings,
  writeStderrError,
  writeUnkeyedPathInfo,
  writeValidPathInfo,
  DEFAULT_CLIENT_SETTINGS,
} from "./daemon-protocol";
import { narExtent } from "./nar-extent";
import { narFromTree, type NarNode } from "./nar";
import { ByteReader } from "./byte-reader";

async function* chunks(b: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
const reader = (b: Uint8Array) => new WireReader(chunks(b, 3));

test("path infos lose the 1.16 fields before 1.16 and keep them after", async () => {
  const info = { path: "/nix/store/x", deriver: "/nix/store/d.drv", narHash: "ab".repeat(32), references: ["/nix/store/r"], registrationTime: 5, narSize: 9, ultimate: true, signatures: ["k:s"], ca: "fixed:r:sha256:x" };
  for (const minor of [15, 16, 37]) {
    const b = writeUnkeyedPathInfo(new WireWriter(), protocolVersion(minor), info).take();
    const back = await readUnkeyedPathInfo(reader(b), protocolVersion(minor), info.path);
    if (minor >= 16) assert.deepEqual(back, info);
    else assert.deepEqual(back, { ...info, ultimate: false, signatures: [], ca: "" });
  }
});

test("a path info read at once from the bytes at hand: all of it or nothing consumed, as the awaited read", async () => {
  const info = { path: "/nix/store/x", deriver: "/nix/store/d.drv", narHash: "ab".repeat(32), references: ["/nix/store/r", "/nix/store/s"], registrationTime: 5, narSize: 9, ultimate: true, signatures: ["k:s"], ca: "fixed:r:sha256:x" };
  for (const minor of [15, 37]) {
    const v = protocolVersion(minor);
    const one = writeValidPathInfo(new WireWriter(), v, info).take();
    const two = new Uint8Array([...one, ...one, 1, 0, 0, 0, 0, 0, 0, 0]);
    const want = await readValidPathInfo(reader(one), v);
    // the bytes in chunks split at every point: what is not all at hand is read by the awaited reader, from where it was
    for (let split = 1; split < two.length; split++) {
      const r = new WireReader((async function* () {
        yield two.subarray(0, split);
        yield two.subarray(split);
      })());
      assert.equal(await r.atEnd(), false);
      for (let k = 0; k < 2; k++) {
        const before = r.consumed;
        const now = readValidPathInfoNow(r, v);
        if (now === undefined) assert.equal(r.consumed, before);
        else assert.equal(r.consumed, before + one.length);
        assert.deepEqual(now ?? (await readValidPathInfo(r, v)), want);
      }
      assert.equal(await r.u64(), 1);
    }
  }
  // its errors are the awaited reader's
  const limited = (b: Uint8Array) => new WireReader((async function* () {
    yield b;
  })(), { maxItems: 1 });
  const r1 = limited(writeValidPathInfo(new WireWriter(), protocolVersion(37), info).take());
  await r1.atEnd();
  assert.throws(() => readValidPathInfoNow(r1, protocolVersion(37)), /refusing a list of 2 items \(limit 1\)/);
  await assert.rejects(readValidPathInfo(limited(writeValidPathInfo(new WireWriter(), protocolVersion(37), info).take()), protocolVersion(37)), /refusing a list of 2 items \(limit 1\)/);
});

test("errors: a serialised Error from 1.26, message and status before", async () => {
  for (const minor of [21, 26, 37]) {
    const b = writeStderrError(new WireWriter(), protocolVersion(minor), { message: "boom", traces: ["while x"], status: 101 }).take();
    const r = reader(b);
    assert.equal(await r.u64(), Stderr.ERROR);
    const e = await readStderrError(r, protocolVersion(minor));
    assert.equal(e.message, "boom");
    if (minor >= 26) assert.deepEqual(e.traces, ["while x"]);
    else assert.equal(e.status, 101);
  }
});

test("derived paths: '!' outputs, '*', and what a bare .drv means before and after 1.30", () => {
  assert.deepEqual(parseDerivedPath("/nix/store/a.drv!out,dev", protocolVersion(34)), { type: "built", drvPath: "/nix/store/a.drv", outputs: ["out", "dev"] });
  assert.deepEqual(parseDerivedPath("/nix/store/a.drv!*", protocolVersion(34)), { type: "built", drvPath: "/nix/store/a.drv", outputs: null });
  assert.deepEqual(parseDerivedPath("/nix/store/a.drv", protocolVersion(34)), { type: "opaque", path: "/nix/store/a.drv" });
  assert.deepEqual(parseDerivedPath("/nix/store/a.drv", protocolVersion(29)), { type: "built", drvPath: "/nix/store/a.drv", outputs: null });
  assert.equal(formatDerivedPath({ type: "built", drvPath: "/nix/store/a.drv", outputs: null }, protocolVersion(34)), "/nix/store/a.drv!*");
});

test("build results, basic derivations and client settings round trip at each version", async () => {
  const res: BuildResult = {
    status: BuildStatus.Built,
    errorMsg: "",
    timesBuilt: 1,
    isNonDeterministic: false,
    startTime: 10,
    stopTime: 20,
    cpuUser: 5,
    builtOutputs: new Map([["out", { id: "sha256:abcd!out", outPath: "/nix/store/o", signatures: [], dependentRealisations: {} }]]),
  };
  for (const minor of [27, 28, 29, 37]) {
    const b = writeBuildResult(new WireWriter(), protocolVersion(minor), res).take();
    const back = await readBuildResult(reader(b), protocolVersion(minor));
    assert.equal(back.status, res.status);
    assert.equal(back.builtOutputs.size, minor >= 28 ? 1 : 0);
    assert.equal(back.stopTime, minor >= 29 ? 20 : 0);
    assert.equal(back.cpuUser, minor >= 37 ? 5 : undefined);
  }
  const drv = { outputs: new Map([["out", { path: "/nix/store/o", hashAlgo: "", hash: "" }]]), inputSrcs: ["/nix/store/s"], platform: "x86_64-linux", builder: "/bin/sh", args: ["-c", "x"], env: new Map([["a", "b"]]) };
  assert.deepEqual(await readBasicDerivation(reader(writeBasicDerivation(new WireWriter(), drv).take())), drv);
  for (const minor of [10, 12, 37]) {
    const s = { ...DEFAULT_CLIENT_SETTINGS, verbosity: 5, overrides: new Map([["k", "v"]]) };
    const back = await readClientSettings(reader(writeClientSettings(new WireWriter(), protocolVersion(minor), s).take()), protocolVersion(minor));
    assert.equal(back.verbosity, 5);
    assert.deepEqual([...back.overrides], minor >= 12 ? [["k", "v"]] : []);
  }
});

test("narExtent reads exactly one NAR out of a longer stream, whatever its shape", async () => {
  const trees: NarNode[] = [
    { type: "regular", executable: false, contents: new Uint8Array(0) },
    { type: "regular", executable: true, contents: new Uint8Array(1000).fill(7) },
    { type: "symlink", target: "../x" },
    { type: "directory", entries: new Map() },
    {
      type: "directory",
      entries: new Map<string, NarNode>([
        ["a", { type: "directory", entries: new Map<string, NarNode>([["deep", { type: "directory", entries: new Map<string, NarNode>([["f", { type: "regular", executable: false, contents: new Uint8Array(13) }]]) }]]) }],
        ["b", { type: "symlink", target: "a" }],
        ["c", { type: "regular", executable: false, contents: new Uint8Array(9) }],
      ]),
    },
  ];
  for (const t of trees) {
    const nar = narFromTree(t);
    const trailer = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const size of [1, 7, 64, 100000]) {
      const r = new ByteReader(chunks(Buffer.concat([nar, trailer]), size), () => new Error("eof"));
      const got: Uint8Array[] = [];
      for await (const c of narExtent(r)) got.push(c);
      assert.deepEqual(Buffer.concat(got), Buffer.from(nar));
      assert.deepEqual(Buffer.from(await r.exact(8)), Buffer.from(trailer), "nothing after the NAR was read");
    }
  }
  const r = new ByteReader(chunks(narFromTree(trees[4]).subarray(0, 100), 8), () => new Error("unexpected end"));
  await assert.rejects(async () => {
    for await (const _ of narExtent(r));
  }, /unexpected end/);
});
