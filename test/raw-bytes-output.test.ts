// Strings whose bytes are not UTF-8 are printed as their bytes (as Nix), not
// as U+FFFD: eval output (also --raw), the repl, builtins.trace and error
// messages.
// toJSON/--json refuses them with Nix's message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix226, oracleScript, runTvixBytes } from "./helpers";

const dir = mkdtempSync(join(tmpdir(), "tvix-rawout-"));
const RAW = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0xa9]); // "a", a lone 0xff, "b", "é"
writeFileSync(join(dir, "raw"), RAW);
// a source file with the byte in a string literal
writeFileSync(join(dir, "lit.nix"), Buffer.concat([Buffer.from('"'), RAW, Buffer.from('"')]));
const READ = `builtins.readFile ${dir}/raw`;
const bytes = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));

// [arguments, expected stdout, expected end of stderr, exit code, Nix's stdout where it differs]
const CASES: [string[], Buffer, Buffer, number, Buffer?][] = [
  [["--eval", "-E", READ], bytes('"', RAW, '"\n'), bytes(""), 0],
  [["--eval", `${dir}/lit.nix`], bytes('"', RAW, '"\n'), bytes(""), 0],
  [["--eval", "--raw", "-E", READ], RAW, bytes(""), 0],
  [["--eval", "--raw", "-E", `{ outPath = ${READ}; }`], RAW, bytes(""), 0],
  [["--eval", "--raw", "-E", "1"], bytes(""), bytes("… while generating the nix-instantiate output\n\n       error: cannot coerce an integer to a string: 1\n"), 1],
  [["--eval", "--strict", "-E", `{ x = [ (${READ}) ]; }`], bytes('{ x = [ "', RAW, '" ]; }\n'), bytes(""), 0],
  [["--eval", "-E", `builtins.trace (${READ}) 1`], bytes("1\n"), bytes("trace: ", RAW, "\n"), 0],
  [["--eval", "-E", `throw (${READ})`], bytes(""), bytes("error: ", RAW, "\n"), 1],
  [["--eval", "--json", "-E", READ], bytes(""), bytes("invalid UTF-8 byte at index 1: 0xFF\n"), 1, bytes('"')], // Nix has begun the output when it fails
];

function endsWith(b: Buffer, end: Buffer): boolean {
  return b.length >= end.length && b.subarray(b.length - end.length).equals(end);
}

for (const [args, out, errEnd, code, nixOut] of CASES) {
  test(`raw bytes printed as bytes: tvix eval ${args.slice(1).join(" ")}`, () => {
    const r = runTvixBytes(["eval", ...args.slice(1)]);
    assert.equal(r.status, code, r.stderr.toString());
    assert.deepEqual(r.stdout, out, `stdout ${JSON.stringify(r.stdout.toString("latin1"))}`);
    assert.ok(endsWith(r.stderr, errEnd), `stderr ${JSON.stringify(r.stderr.toString("latin1"))}`);
  });
  test(`raw bytes printed as bytes: as nix-instantiate ${args.join(" ")} of Nix 2.26`, { skip: nix226.skip }, () => {
    const r = spawnSync(oracleScript, ["nix-instantiate", ...args]);
    assert.equal(r.status, code, r.stderr.toString());
    assert.deepEqual(r.stdout, nixOut ?? out);
    assert.ok(endsWith(r.stderr, errEnd), `stderr ${JSON.stringify(r.stderr.toString("latin1"))}`);
  });
}

test("raw bytes printed as bytes: the repl prints a string's bytes", () => {
  const r = runTvixBytes(["repl"], { input: `${READ}\n:p ${READ}\n` });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(r.stdout, bytes('"', RAW, '"\n', RAW, "\n"));
});
