import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConfigError, SETTINGS, parseConfig, type ConfigWarning } from "./config";

function parse(text: string, files: Record<string, string> = {}): { values: Map<string, string>; warnings: ConfigWarning[] } {
  const values = new Map<string, string>();
  const warnings: ConfigWarning[] = [];
  parseConfig(text, { name: "test.conf", readInclude: (p) => (p in files ? { name: p, text: files[p] } : null) }, values, warnings);
  return { values, warnings };
}

test("config: nix.conf syntax: comments, spaces, later lines win, extra- appends, includes", () => {
  const { values, warnings } = parse(
    [
      "# a comment",
      "cores = 2   # trailing comment",
      "  max-jobs=auto",
      "substituters = file:///a",
      "extra-substituters = file:///b  file:///c",
      "cores = 4",
      "include other.conf",
      "!include missing.conf",
      "experimental-features = nix-command flakes",
      "no-such-thing = 1",
    ].join("\n"),
    { "other.conf": "sandbox = relaxed\n" },
  );
  assert.equal(values.get("cores"), "4");
  assert.equal(values.get("max-jobs"), "auto");
  assert.equal(values.get("substituters"), "file:///a file:///b  file:///c");
  assert.equal(values.get("sandbox"), "relaxed");
  assert.deepEqual(warnings.map((w) => w.message), ["unknown setting 'no-such-thing' (test.conf:10)"]);
});

test("config: bad lines and values are errors that say where", () => {
  assert.throws(() => parse("cores = lots"), (e: Error) => e instanceof ConfigError && /test\.conf:1: invalid value 'lots' for setting 'cores'/.test(e.message));
  assert.throws(() => parse("\nsandbox = maybe"), /test\.conf:2: invalid value 'maybe' for setting 'sandbox'/);
  assert.throws(() => parse("just words"), /test\.conf:1: expected 'name = value'/);
  assert.throws(() => parse("include nope.conf"), /included file 'nope.conf' does not exist/);
  assert.throws(() => parse("extra-cores = 1"), /only list settings take extra-/);
  assert.throws(() => parse("include self.conf", { "self.conf": "include self.conf" }), /nested too deeply/);
});

test("config: docs/configuration.md documents every setting", () => {
  const doc = readFileSync(new URL("../docs/configuration.md", import.meta.url), "utf8");
  for (const name of Object.keys(SETTINGS)) assert.match(doc, new RegExp("^### `" + name + "`", "m"), `docs/configuration.md lacks ${name}`);
});
