// Bytes that are not UTF-8 reach toFile and derivations as themselves (not
// U+FFFD): store paths as Nix 2.26's (expected paths taken from it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeEvalState } from "../eval/driver";
import { makeEvalHost } from "../glue";
import { parse } from "../eval/parser";
import { force, strValue } from "../eval/value";

test("raw bytes: toFile and derivation paths equal Nix 2.26's", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-rawbytes-"));
  writeFileSync(join(dir, "raw"), Buffer.from([0x61, 0xff, 0x62, 0xc3]));
  const state = makeEvalState([], makeEvalHost().host);
  const run = (bytes: Buffer) => {
    writeFileSync(join(dir, "x.nix"), bytes);
    return strValue(force(state.importFile(join(dir, "x.nix"), null)) as string);
  };
  assert.equal(run(Buffer.concat([Buffer.from('builtins.toFile "x" "a'), Buffer.of(0xff), Buffer.from('b"')])), "/nix/store/frai28scjs5yjbywqxpykshfwx2z3ldc-x");
  writeFileSync(join(dir, "y.nix"), 'builtins.toFile "x" (builtins.readFile ./raw)');
  assert.equal(strValue(force(state.importFile(join(dir, "y.nix"), null)) as string), "/nix/store/996w8r3ny33l0yrjxq3m03wxfiysjl10-x");
  writeFileSync(join(dir, "z.nix"), '(derivation { name = "x"; system = "x"; builder = "/bin/sh"; a = builtins.readFile ./raw; }).drvPath');
  assert.equal(strValue(force(state.importFile(join(dir, "z.nix"), null)) as string), "/nix/store/bgzzdpxr5009qwkv754gxij24z96f5h9-x.drv");
});
