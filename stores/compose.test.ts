import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "./backends";
import { openStore } from "./url";
import { narFromTree } from "../core/nar";
import { hashBytes } from "../core/hash";
import { makeFixedOutputPath } from "../core/store-path";
import type { NixPathInfo } from "./types";
import { collect, once } from "./stream-util";
import { splitNamedUrls, splitUrlList } from "./compose";

function sample(text: string): { info: NixPathInfo; nar: Uint8Array } {
  const nar = narFromTree({ type: "regular", executable: false, contents: new TextEncoder().encode(text) });
  const h = hashBytes("sha256", nar);
  const sp = makeFixedOutputPath("s", h, true);
  return { info: { storePath: sp.toAbsolute(), narHash: h.format("nix32", true), narSize: nar.length, references: [], signatures: [] }, nar };
}
const tmp = () => mkdtempSync(join(tmpdir(), "tvix-compose-"));
const narinfos = (d: string) => readdirSync(d).filter((f) => f.endsWith(".narinfo")).length;

test("URL splitting keeps nested query strings", () => {
  assert.deepEqual(
    [...splitNamedUrls("near=file:///a?compression=zstd&far=s3://b/p?endpoint=http://h:1&region=x", ["near", "far"])],
    [["near", "file:///a?compression=zstd"], ["far", "s3://b/p?endpoint=http://h:1&region=x"]],
  );
  assert.deepEqual(splitUrlList("file:///a?compression=none,s3://b?x=1,2,/abs/path"), ["file:///a?compression=none", "s3://b?x=1,2", "/abs/path"]);
  assert.deepEqual(splitUrlList(encodeURIComponent("file:///a?k=a,b")), ["file:///a?k=a,b"]);
});

test("cache://: reads fall through to far and are written back to near", async () => {
  const near = tmp();
  const far = tmp();
  const p = sample("cached");
  const farStore = await openStore(`file://${far}?compression=none`);
  await farStore.addToStore(p.info, once(p.nar));
  const store = await openStore(`cache://?near=file://${near}?compression=zstd&far=file://${far}`);
  assert.equal((await store.queryPathInfo(p.info.storePath))?.narHash, p.info.narHash);
  assert.equal(narinfos(near), 0);
  assert.ok(Buffer.from(await collect(store.narFromPath(p.info.storePath))).equals(Buffer.from(p.nar)));
  assert.equal(narinfos(near), 1);
  // now served by near alone
  const nearStore = await openStore(`file://${near}`);
  assert.ok(Buffer.from(await collect(nearStore.narFromPath(p.info.storePath))).equals(Buffer.from(p.nar)));
  const q = sample("written");
  await store.addToStore(q.info, once(q.nar));
  assert.equal(narinfos(far), 2);
});

test("priority://: first hit wins, writes go to the first store", async () => {
  const a = tmp();
  const b = tmp();
  const p = sample("in b");
  await (await openStore(`file://${b}`)).addToStore(p.info, once(p.nar));
  const store = await openStore(`priority://?stores=file://${a},file://${b}`);
  assert.ok(await store.queryPathInfo(p.info.storePath));
  assert.ok(Buffer.from(await collect(store.narFromPath(p.info.storePath))).equals(Buffer.from(p.nar)));
  const q = sample("new");
  await store.addToStore(q.info, once(q.nar));
  assert.equal(narinfos(a), 1);
  const listed: string[] = [];
  for await (const x of store.listPaths()) listed.push(x);
  assert.deepEqual(listed.sort(), [p.info.storePath, q.info.storePath].sort());
  assert.equal(await store.queryPathInfo("/nix/store/" + "2".repeat(32) + "-none"), null);
});

test("config:// files in TOML and JSON", async () => {
  const a = tmp();
  const b = tmp();
  const c = tmp();
  const p = sample("deep");
  await (await openStore(`file://${c}`)).addToStore(p.info, once(p.nar));
  const dir = tmp();
  writeFileSync(
    join(dir, "stores.toml"),
    `[store]\ntype = "priority"\nstores = ["file://${a}", { type = "cache", near = "file://${b}", far = { url = "file://${c}" } }]\n`,
  );
  const store = await openStore(`config://${join(dir, "stores.toml")}`);
  assert.ok(Buffer.from(await collect(store.narFromPath(p.info.storePath))).equals(Buffer.from(p.nar)));
  assert.equal(narinfos(b), 1);
  writeFileSync(join(dir, "s.json"), JSON.stringify({ store: { type: "priority", stores: [`file://${a}`, `file://${c}`] } }));
  assert.ok(await (await openStore(`config://${join(dir, "s.json")}`)).queryPathInfo(p.info.storePath));
  writeFileSync(join(dir, "bad.toml"), `[store]\ntype = "mirror"\n`);
  await assert.rejects(openStore(`config://${join(dir, "bad.toml")}`), /unknown store type 'mirror'/);
  await assert.rejects(openStore(`priority://?stores=`), /needs stores=/);
});
