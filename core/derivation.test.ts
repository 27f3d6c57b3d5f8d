import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseDerivation,
  printDerivation,
  DerivationParseError,
  computeOutputPaths,
  derivationTextAndModulo,
  instantiateDerivation,
  type Derivation,
} from "./derivation";
import { hashBytes } from "./hash";

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

test("instantiateDerivation gives the output paths, text and modulo hash of the general path", () => {
  const inputModulo = (p: string) => hashBytes("sha256", p);
  // outputs unset, an env var per output, escapes in the environment, an input
  // derivation, and an env key sorting between the output names
  const fresh = (): Derivation => {
    const d = parseDerivation(sample);
    for (const o of d.outputs.values()) o.path = "";
    d.env = new Map([
      ["dev", ""],
      ["a", 'say "x"\n\tdone\\'],
      ["out", ""],
      ["z", "/nix/store/0d-src"],
      ["builder", "/bin/sh"],
    ]);
    return d;
  };
  const general = fresh();
  computeOutputPaths(general, "x", inputModulo);
  const want = derivationTextAndModulo(general, inputModulo);
  const fast = fresh();
  const got = instantiateDerivation(fast, "x", inputModulo);
  assert.equal(got.text, want.text);
  assert.equal(got.text, printDerivation(fast));
  assert.equal(got.modulo.toBase16(), want.modulo.toBase16());
  assert.deepEqual([...fast.outputs], [...general.outputs]);
  assert.deepEqual([...fast.env], [...general.env]);
  assert.match(fast.env.get("dev")!, /^\/nix\/store\/[0-9a-z]{32}-x-dev$/);
});
