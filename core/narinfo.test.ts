import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readdirSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseNarInfo, formatNarInfo, narInfoFingerprint, NarInfoError } from "./narinfo";
import { generateSigningKeyPair, parseSecretKey, parsePublicKey, signNarInfo, verifyNarInfoSignatures, signDetached, verifyDetached } from "./signing";
import { Hash } from "./hash";
import { nix28 } from "../test/helpers";

const sample = `StorePath: /nix/store/v768pnfa17rgv5k6alr6hs5ywl0qpz10-d
URL: nar/0wbm3k9xkc66sijyz5arwz8lcyibplrvqvpniz99r9da88c8np99.nar.xz
Compression: xz
FileHash: sha256:0wbm3k9xkc66sijyz5arwz8lcyibplrvqvpniz99r9da88c8np99
FileSize: 3001392
NarHash: sha256:1cavjx03qjjr7kpjw4pvqc9ng9a8hnkb3vrnlxgxaf4hnnw8ajc3
NarSize: 3001992
References: 
CA: fixed:r:sha256:1cavjx03qjjr7kpjw4pvqc9ng9a8hnkb3vrnlxgxaf4hnnw8ajc3
`;

test("narinfo parse/print round trip", () => {
  const ni = parseNarInfo(sample);
  assert.equal(ni.narSize, 3001992);
  assert.deepEqual(ni.references, []);
  assert.equal(formatNarInfo(ni), sample);
});

test("malformed narinfos are rejected clearly", () => {
  assert.throws(() => parseNarInfo(sample.replace(/NarHash.*\n/, "")), /missing the 'NarHash'/);
  assert.throws(() => parseNarInfo(sample.replace("NarSize: 3001992", "NarSize: x")), NarInfoError);
  assert.throws(() => parseNarInfo(sample.replace("/nix/store/v768", "/tmp/v768")), /StorePath/);
  assert.throws(() => parseNarInfo(sample.replace("References: ", "References: bogus")), /References/);
  assert.throws(() => parseNarInfo(sample + "garbage line\n"), /malformed/);
});

test("sign and verify with generated keys; tampering is detected", () => {
  const { secretKey, publicKey } = generateSigningKeyPair("k1");
  const sk = parseSecretKey(secretKey);
  const pk = parsePublicKey(publicKey);
  const ni = parseNarInfo(sample);
  signNarInfo(ni, sk);
  assert.equal(verifyNarInfoSignatures(ni, [pk]), 1);
  const other = parsePublicKey(generateSigningKeyPair("k1").publicKey);
  assert.equal(verifyNarInfoSignatures(ni, [other]), 0);
  ni.narSize += 1;
  assert.equal(verifyNarInfoSignatures(ni, [pk]), 0);
  assert.equal(verifyDetached([pk], "m", signDetached(sk, "m")), true);
  assert.equal(verifyDetached([pk], "m", "k1:AAAA"), false);
  assert.throws(() => parseSecretKey("k1:AAAA"), /64 bytes/);
  assert.throws(() => parsePublicKey("nocolon"), /name:base64/);
});

const nixCmd = ["--extra-experimental-features", "nix-command"];

test("oracle: our signatures equal Nix's (ed25519 is deterministic) with Nix-generated keys", { skip: nix28.skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-sig-"));
  const r0 = spawnSync("nix-store", ["--generate-binary-cache-key", "oracle-key", join(dir, "sk"), join(dir, "pk")]);
  assert.equal(r0.status, 0);
  mkdirSync(join(dir, "t"));
  writeFileSync(join(dir, "t", "f"), `content ${Date.now()} ${Math.random()}`);
  const path = spawnSync("nix-store", ["--add", join(dir, "t")], { encoding: "utf8" }).stdout.trim();
  assert.equal(spawnSync("nix", [...nixCmd, "store", "sign", "--key-file", join(dir, "sk"), path]).status, 0);
  const info = JSON.parse(spawnSync("nix", [...nixCmd, "path-info", "--json", "--sigs", path], { encoding: "utf8" }).stdout)[0];
  const sk = parseSecretKey(readFileSync(join(dir, "sk"), "utf8"));
  const fp = narInfoFingerprint("/nix/store", path, Hash.parse(info.narHash), info.narSize, info.references);
  const ours = signDetached(sk, fp);
  assert.ok(info.signatures.includes(ours), `${ours} not in ${info.signatures}`);
  assert.ok(verifyDetached([parsePublicKey(readFileSync(join(dir, "pk"), "utf8"))], fp, ours));
});

test("oracle: narinfos written by nix copy parse and re-print identically", { skip: nix28.skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-ni-"));
  const a = spawnSync("nix-instantiate", ["--eval", "--strict", "--read-write-mode", "-E",
    `let a = builtins.toFile "a-${process.pid}" "x"; in builtins.toFile "b-${process.pid}" "refers to \${a}"`], { encoding: "utf8" });
  assert.equal(a.status, 0, a.stderr);
  const path = JSON.parse(a.stdout);
  const c = spawnSync("nix", [...nixCmd, "copy", "--to", `file://${dir}/cache`, path], { encoding: "utf8" });
  assert.equal(c.status, 0, c.stderr);
  const files = readdirSync(join(dir, "cache")).filter((f) => f.endsWith(".narinfo"));
  assert.equal(files.length, 2);
  for (const f of files) {
    const text = readFileSync(join(dir, "cache", f), "utf8");
    const ni = parseNarInfo(text);
    assert.equal(formatNarInfo(ni), text);
  }
});
