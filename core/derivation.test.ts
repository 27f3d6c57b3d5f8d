import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDerivation, printDerivation, DerivationParseError } from "./derivation";

const sample =
  'Derive([("dev","/nix/store/0a-x-dev","",""),("out","/nix/store/0b-x","","")],' +
  '[("/nix/store/0c-y.drv",["out"])],["/nix/store/0d-src"],"x86_64-linux","/bin/sh",' +
  '["-c","echo \\"hi\\"\\n\\t\\r\\\\"],[("a","1"),("out","/nix/store/0b-x")])';

test("parse and print round trip with escapes", () => {
  const d = parseDerivation(sample);
  assert.equal(d.args[1], 'echo "hi"\n\t\r\\');
  assert.deepEqual([...d.outputs.keys()], ["dev", "out"]);
  assert.equal(printDerivation(d), sample);
  assert.equal(printDerivation(d, { maskOutputs: true }).includes("/nix/store/0b-x\""), false);
});

test("malformed derivations give DerivationParseError with an offset", () => {
  for (const bad of ["", "Derive(", "Derive([],[],[],\"\",\"\",[],[])x", 'Derive([("out","rel","","")],[],[],"","",[],[])', sample.slice(0, -1), sample.replace("Derive", "Derivx")]) {
    assert.throws(() => parseDerivation(bad), DerivationParseError, JSON.stringify(bad));
  }
});

test("fuzz: mutated derivations parse or throw DerivationParseError", () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const chars = '()[],"\\x/';
  for (let i = 0; i < 3000; i++) {
    const a = sample.split("");
    for (let e = 0; e < 1 + rnd(3); e++) {
      const k = rnd(3);
      const at = rnd(a.length);
      if (k === 0) a.splice(at, 1);
      else if (k === 1) a.splice(at, 0, chars[rnd(chars.length)]);
      else a[at] = chars[rnd(chars.length)];
    }
    try {
      parseDerivation(a.join(""));
    } catch (e) {
      assert.ok(e instanceof DerivationParseError, String(e));
    }
  }
});
