// Reference scanning, Nix's hash modulo self-references, and the checks on
// a build's outputs (fixed-output hashes, allowed/disallowed references,
// cycles) before anything is registered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RefScanner, scanTree } from "./refscan";
import { HashModulo, checkOutputs, registerOutputs } from "./realise";
import { BuildError, type BuildOutput } from "./build-request";
import { openMemoryStore } from "../stores/memory";
import { ingestTree } from "../stores/nar-bridge";
import { hashBytes } from "../core/hash";
import { parseDerivation, type Derivation } from "../core/derivation";
import { makeFixedOutputPath } from "../core/store-path";

const A = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
const B = "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b";

test("reference scanning finds hash parts anywhere, across chunk boundaries, in names and symlinks", () => {
  const s = new RefScanner([A, B]);
  const text = Buffer.from(`xx/nix/store/${A}-foo yy`);
  for (let i = 0; i < text.length; i += 5) s.feed(text.subarray(i, i + 5));
  assert.deepEqual([...s.found], [0]);
  // a hash part split by a NUL is not one
  const t = new RefScanner([A]);
  t.feed(Buffer.from(A.slice(0, 10) + "\0" + A.slice(10)));
  assert.equal(t.found.size, 0);

  const dir = mkdtempSync(join(tmpdir(), "tvix-refscan-"));
  try {
    mkdirSync(join(dir, `${B}-name`));
    writeFileSync(join(dir, "plain"), "nothing here".repeat(1000));
    assert.deepEqual(scanTree(dir, [A, B]), [1]);
    symlinkSync(`/nix/store/${A}-x`, join(dir, "link"));
    assert.deepEqual(scanTree(dir, [A, B]), [0, 1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hash modulo: the own hash part becomes NUL bytes and its offsets are hashed after", () => {
  const data = Buffer.from(`ab${A}cd${A}`);
  const h = new HashModulo("sha256", A);
  for (let i = 0; i < data.length; i += 7) h.update(data.subarray(i, i + 7));
  const zeroed = Buffer.from(`ab${"\0".repeat(32)}cd${"\0".repeat(32)}`);
  assert.ok(h.digest().equals(hashBytes("sha256", Buffer.concat([zeroed, Buffer.from("|2|36")]))));
  const plain = new HashModulo("sha256", A);
  plain.update(Buffer.from("no reference"));
  assert.ok(plain.digest().equals(hashBytes("sha256", "no reference")));
});

/** A fake build: trees written under a temp dir, ingested as the sandbox would. */
async function built(store: ReturnType<typeof openMemoryStore>, dir: string, trees: Record<string, (p: string) => void>, needles: string[]): Promise<BuildOutput[]> {
  const { scanTree } = await import("./refscan");
  const out: BuildOutput[] = [];
  for (const [base, make] of Object.entries(trees)) {
    const p = join(dir, base);
    make(p);
    const r = await ingestTree(store, p);
    out.push({ node: { ...r.node, name: Buffer.from(base) }, needles: scanTree(p, needles), narHash: r.narHash.toString(), narSize: r.narSize, hostPath: p });
  }
  return out;
}

function drvWith(outputs: Record<string, string>, env: Record<string, string> = {}, fixed?: { hashAlgo: string; hash: string }): Derivation {
  const d = parseDerivation('Derive([],[],[],"x86_64-linux","/bin/sh",[],[])');
  for (const [name, path] of Object.entries(outputs)) d.outputs.set(name, { path, hashAlgo: fixed?.hashAlgo ?? "", hash: fixed?.hash ?? "" });
  for (const [k, v] of Object.entries(env)) d.env.set(k, v);
  return d;
}

test("output checks: references, allowed/disallowed lists, cycles, fixed-output hashes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-realise-"));
  const store = openMemoryStore();
  const out = `/nix/store/${A}-out`;
  const dev = `/nix/store/${B}-out-dev`;
  const dep = "/nix/store/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-dep";
  const needles = [A, B, dep.slice(11, 43)];
  const needlePaths = [out, dev, dep];
  try {
    // the dependency must be valid for requisite checks
    const depTree = await built(store, dir, { "dep-tree": (p) => writeFileSync(p, "dep") }, []);
    await store.registerPath({ storePath: dep, node: { ...depTree[0].node, name: Buffer.from(dep.slice(11)) }, narHash: depTree[0].narHash, narSize: depTree[0].narSize, references: [], signatures: [] });

    let n = 0;
    const fresh = () => join(dir, `b${n++}`);
    const outputs = async (trees: Record<string, (p: string) => void>) => {
      const d = fresh();
      mkdirSync(d);
      return built(store, d, trees, needles);
    };

    // fine: out -> dev -> dep, dev refers to itself
    let drv = drvWith({ out, dev }, { disallowedReferences: "" });
    let b = await outputs({
      [out.slice(11)]: (p) => writeFileSync(p, `see ${dev}`),
      [dev.slice(11)]: (p) => writeFileSync(p, `${dev} ${dep}`),
    });
    const infos = await checkOutputs({ store, drv, drvPath: "/nix/store/x-out.drv", needlePaths }, b);
    assert.deepEqual([...infos.keys()], ["dev", "out"]); // references first
    assert.deepEqual(infos.get("dev")!.references, [dev, dep].sort());
    assert.deepEqual(infos.get("out")!.references, [dev]);
    assert.equal(infos.get("out")!.deriver, "/nix/store/x-out.drv");
    assert.equal(await store.queryPathInfo(out), null); // nothing registered yet
    await registerOutputs(store, infos);
    assert.ok(await store.queryPathInfo(out));

    // a cycle between outputs
    drv = drvWith({ out, dev });
    b = await outputs({ [out.slice(11)]: (p) => writeFileSync(p, dev), [dev.slice(11)]: (p) => writeFileSync(p, out) });
    await assert.rejects(checkOutputs({ store, drv, drvPath: "/nix/store/x.drv", needlePaths }, b), /cycle detected in build of '\/nix\/store\/x.drv' in the references of output '(dev|out)' from output '(out|dev)'/);

    // disallowed, not allowed, requisites (by path or output name)
    for (const [env, bad] of [
      [{ disallowedReferences: dep }, dep],
      [{ allowedReferences: "out" }, dep],
      [{ disallowedRequisites: dep }, dep],
      [{ allowedRequisites: "out" }, dep],
    ] as const) {
      drv = drvWith({ out }, env);
      b = await outputs({ [out.slice(11)]: (p) => writeFileSync(p, `${dep} ${out}`) });
      await assert.rejects(checkOutputs({ store, drv, drvPath: "/nix/store/x.drv", needlePaths }, b), (e: Error) => {
        assert.equal(e.message, `output '${out}' is not allowed to refer to the following paths:\n  ${bad}`);
        return true;
      });
    }
    drv = drvWith({ out }, { allowedReferences: "out " + dep });
    b = await outputs({ [out.slice(11)]: (p) => writeFileSync(p, `${dep} ${out}`) });
    await checkOutputs({ store, drv, drvPath: "/nix/store/x.drv", needlePaths }, b);
    // plain derivations leave an output's own path out of requisite checks
    drv = drvWith({ out }, { allowedRequisites: dep });
    await checkOutputs({ store, drv, drvPath: "/nix/store/x.drv", needlePaths }, b);
    drv = drvWith({ out }, { allowedReferences: "nonsense" });
    await assert.rejects(checkOutputs({ store, drv, drvPath: "/nix/store/x.drv", needlePaths }, b), /illegal reference specifier 'nonsense'/);

    // fixed-output: right hash (ca recorded), wrong hash (both shown), a directory for a flat hash
    const content = "fetched\n";
    const h = hashBytes("sha256", content);
    const fod = makeFixedOutputPath("f", h, false).toAbsolute();
    drv = drvWith({ out: fod }, {}, { hashAlgo: "sha256", hash: h.toBase16() });
    b = await outputs({ [fod.slice(11)]: (p) => writeFileSync(p, content) });
    const ok = await checkOutputs({ store, drv, drvPath: "/nix/store/f.drv", needlePaths: [] }, b);
    assert.equal(ok.get("out")!.ca, `fixed:${h.toString()}`);
    drv = drvWith({ out: fod }, {}, { hashAlgo: "sha256", hash: h.toBase16() });
    b = await outputs({ [fod.slice(11)]: (p) => writeFileSync(p, "something else\n") });
    await assert.rejects(checkOutputs({ store, drv, drvPath: "/nix/store/f.drv", needlePaths: [] }, b), (e: BuildError) => {
      assert.equal(e.kind, "hash-mismatch");
      assert.equal(e.message, `hash mismatch in fixed-output derivation '/nix/store/f.drv':\n  specified: ${h.toSRI()}\n     got:    ${hashBytes("sha256", "something else\n").toSRI()}`);
      return true;
    });
    b = await outputs({ [fod.slice(11)]: (p) => mkdirSync(p) });
    await assert.rejects(checkOutputs({ store, drv, drvPath: "/nix/store/f.drv", needlePaths: [] }, b), /should be a non-executable regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
