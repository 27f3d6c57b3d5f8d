// A path's content address is checked whether or not signatures are: with
// --no-check-sigs, a malformed CA field is refused with Nix's message and a
// well-formed one that does not describe the NAR is refused too; nothing is
// registered either way.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTvix } from "./helpers";

let work: string;
let path: string;
const env = () => ({ TVIX_HOME: join(work, "home"), NIX_CONFIG: "" });

function ok(args: string[]) {
  const r = runTvix(args, { env: env() });
  assert.equal(r.status, 0, `tvix ${args.join(" ")}:\n${r.stderr}`);
  return r;
}

/** A copy of the cache with the narinfo's CA line rewritten. */
function cacheWithCa(name: string, rewrite: (ca: string) => string): string {
  const dir = join(work, name);
  ok(["copy", "--from", `local://${join(work, "src")}`, "--to", `file://${dir}`, path]);
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".narinfo"))) {
    const p = join(dir, f);
    writeFileSync(p, readFileSync(p, "utf8").replace(/^CA: (.*)$/m, (_, ca: string) => `CA: ${rewrite(ca)}`));
  }
  return dir;
}

const registered = (store: string) => (existsSync(join(store, "pathinfo")) ? readdirSync(join(store, "pathinfo")).length : 0);

before(() => {
  work = mkdtempSync(join(tmpdir(), "tvix-copy-ca-"));
  mkdirSync(join(work, "home"));
  const tree = join(work, "tree");
  mkdirSync(tree);
  writeFileSync(join(tree, "a"), "payload\n");
  path = ok(["store", "import", tree, "--store", `local://${join(work, "src")}`]).stdout.trim();
});

test("copy --no-check-sigs refuses a malformed CA field with Nix's message, registering nothing", () => {
  const cache = cacheWithCa("bad-prefix", (ca) => ca.replace(/^fixed:/, "fixd:"));
  const dst = join(work, "dst-bad-prefix");
  const r = runTvix(["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", `local://${dst}`, path], { env: env() });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /content address prefix 'fixd' is unrecognized\. Recogonized prefixes are 'text' or 'fixed'/);
  assert.equal(registered(dst), 0);
});

test("copy --no-check-sigs refuses a CA field whose hash does not describe the NAR", () => {
  const cache = cacheWithCa("wrong-hash", (ca) => ca.replace(/:[0-9a-z]{52}$/, ":" + "0".repeat(52)));
  const dst = join(work, "dst-wrong-hash");
  const r = runTvix(["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", `local://${dst}`, path], { env: env() });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ca hash mismatch importing path/);
  assert.equal(registered(dst), 0);
});

test("copy --no-check-sigs takes a path whose CA field is right", () => {
  const cache = cacheWithCa("good", (ca) => ca);
  ok(["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", `local://${join(work, "dst-good")}`, path]);
  assert.equal(registered(join(work, "dst-good")), 1);
});

test("a daemon (AddToStoreNar, dontCheckSigs) refuses a malformed CA field with Nix's message, registering nothing", async () => {
  const { startTvixDaemon } = await import("./daemon-harness");
  const cache = cacheWithCa("bad-prefix-daemon", (ca) => ca.replace(/^fixed:/, "fixd:"));
  const d = await startTvixDaemon(join(work, "daemon"));
  try {
    const r = runTvix(["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", d.url, path], { env: env() });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /content address prefix 'fixd' is unrecognized\. Recogonized prefixes are 'text' or 'fixed'/);
    assert.equal(registered(join(work, "daemon", "store")), 0);
  } finally {
    await d.stop();
  }
});
