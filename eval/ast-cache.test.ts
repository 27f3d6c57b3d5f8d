// The parse cache (ast-cache.ts): every file of the shared corpora goes
// through the encoding and back unchanged (same tree, same positions, same
// property order as the parser makes), entries are found again, damaged
// entries are ignored, and evaluation gives the same results with the
// cache on, off, filled and damaged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "./parser";
import { addOrigin } from "./positions";
import { stampKey, readCachedAst, roundTrip, writeCachedAst } from "./ast-cache";
import { ParseCacheFiles } from "../glue/parse-cache-files";
import { HostFS } from "../glue/host-fs";
import { sharedDir } from "../test/helpers";
import { evalIn } from "../test/fixtures/eval/harness";

function nixFiles(dir: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) nixFiles(p, out);
    else if (name.endsWith(".nix")) out.push(p);
  }
  return out;
}

/** The tree as JSON with property order kept (bigints as text), so that shapes are compared too. */
function canon(e: unknown): string {
  return JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? `${v}n` : v instanceof Map ? { map: [...v] } : v));
}

const files = [...nixFiles(join(sharedDir, "corpora")), ...nixFiles(join(sharedDir, "conformance"))];

test("every corpus file survives the encoding (trees, positions and property order)", { skip: files.length === 0 && "no corpora" }, () => {
  let checked = 0;
  for (const f of files) {
    const src = readFileSync(f, "utf8");
    let e;
    try {
      e = parse(src, f, "/base");
    } catch {
      continue; // the parse-fail tests
    }
    const base = addOrigin(f, src);
    const again = parse(src, f, "/base", base);
    // decoded against another base: positions move with it
    const other = addOrigin(f, src);
    assert.equal(canon(roundTrip(again, base, other)), canon(parse(src, f, "/base", other)), f);
    void e;
    checked++;
  }
  assert.ok(checked > 300, `${checked} files`);
});

test("an entry is found for the same text only, and a damaged one is ignored", () => {
  const prev = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), "tvix-astcache-"));
  try {
    const files = new ParseCacheFiles();
    const src = "{ a = 1; b = x: x + 1; c = [ \"s\" ./p ]; }\n" + "# padding\n".repeat(300);
    const base = addOrigin("/d/f.nix", src);
    const e = parse(src, "/d/f.nix", "/d", base);
    assert.equal(readCachedAst(files, src, "/d/f.nix", "/d", base), undefined);
    writeCachedAst(files, src, "/d/f.nix", "/d", base, e);
    assert.equal(canon(readCachedAst(files, src, "/d/f.nix", "/d", base)), canon(e));
    // another text, file or directory has its own entry
    assert.equal(readCachedAst(files, src + " ", "/d/f.nix", "/d", base), undefined);
    assert.equal(readCachedAst(files, src, "/d/g.nix", "/d", base), undefined);
    assert.equal(readCachedAst(files, src, "/d/f.nix", "/e", base), undefined);
    // flip a byte in every entry: the checksum rejects it
    const dir = join(process.env.XDG_CACHE_HOME!, "tvix-ts", "ast");
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const data = readFileSync(p);
      data[data.length - 3] ^= 0x40;
      writeFileSync(p, data);
      // and a truncated one
      writeFileSync(p + "x", data.subarray(0, 20));
    }
    assert.equal(readCachedAst(files, src, "/d/f.nix", "/d", base), undefined);
    // over its limit, the cache loses its oldest entries
    for (let k = 0; k < 6; k++) writeCachedAst(files, src + `#${k}`, "/d/f.nix", "/d", base, e);
    const before = readdirSync(dir).length;
    files.prune(1);
    assert.ok(readdirSync(dir).length < before, "pruned");
  } finally {
    if (prev === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = prev;
  }
});

test("evaluation gives the same with the cache off, empty, filled and damaged", () => {
  const prev = process.env.XDG_CACHE_HOME;
  const prevOff = process.env.TVIX_AST_CACHE;
  const cache = mkdtempSync(join(tmpdir(), "tvix-astcache-"));
  const dir = mkdtempSync(join(tmpdir(), "tvix-astcache-src-"));
  const lib = join(dir, "lib.nix");
  writeFileSync(
    lib,
    "# a library big enough to be cached\n".repeat(80) +
      "rec {\n  f = x: if x > 1 then x * f (x - 1) else 1;\n  s = { a = 1; \"b c\" = ./x/${\"y\"}; };\n  l = [ 1.5 9223372036854775807 \"\\n\" ''\n    ind ${toString 1}\n  '' ];\n  pos = builtins.unsafeGetAttrPos \"a\" s;\n  err = assert f 3 == 5; 1;\n}\n",
  );
  const expr = `let l = import ${lib}; in [ (l.f 5) l.s l.l l.pos ]`;
  const run = () => {
    const ok = evalIn(expr, ["--strict"]);
    const bad = evalIn(`(import ${lib}).err`, ["--strict"]);
    return JSON.stringify([ok, bad]);
  };
  try {
    process.env.XDG_CACHE_HOME = cache;
    process.env.TVIX_AST_CACHE = "0";
    const off = run();
    delete process.env.TVIX_AST_CACHE;
    assert.equal(run(), off); // empty cache: parsed and written
    assert.ok(readdirSync(join(cache, "tvix-ts", "ast")).length > 0, "an entry was written");
    assert.equal(run(), off); // filled: decoded
    for (const name of readdirSync(join(cache, "tvix-ts", "ast"))) writeFileSync(join(cache, "tvix-ts", "ast", name), "garbage");
    assert.equal(run(), off); // damaged: parsed again
    assert.match(off, /assertion/);
  } finally {
    if (prev === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = prev;
    if (prevOff === undefined) delete process.env.TVIX_AST_CACHE;
    else process.env.TVIX_AST_CACHE = prevOff;
  }
});

test("a settled file is found by its stamp, without reading it, and a change is seen", () => {
  const saved = { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, TVIX_AST_CACHE_SETTLE_MS: process.env.TVIX_AST_CACHE_SETTLE_MS };
  const cache = mkdtempSync(join(tmpdir(), "tvix-astcache-"));
  const dir = mkdtempSync(join(tmpdir(), "tvix-astcache-src-"));
  const lib = join(dir, "lib.nix");
  const pad = "# padding to be cached\n".repeat(120);
  const text = (v: string) => `${pad}{ v = ${v}; p = builtins.unsafeGetAttrPos "v" (import ${lib}); }\n`;
  const entries = (prefix: string) => readdirSync(join(cache, "tvix-ts", "ast")).filter((n) => n.startsWith(prefix)).length;
  const v = () => evalIn(`(import ${lib}).v`).out.trim();
  try {
    process.env.XDG_CACHE_HOME = cache;
    writeFileSync(lib, text("1"));
    // just written: no stamp yet (a change within the same clock tick could keep it)
    assert.equal(stampKey(lib, dir, new HostFS().fileStamp(lib)!), null);
    assert.equal(v(), "1");
    assert.equal(entries("s-"), 0);
    process.env.TVIX_AST_CACHE_SETTLE_MS = "0";
    assert.notEqual(stampKey(lib, dir, new HostFS().fileStamp(lib)!), null);
    assert.equal(v(), "1"); // found by its text, and stamped
    assert.equal(entries("s-"), 1);
    // by the stamp: with the text's entry gone, nothing is parsed (and so nothing written)
    for (const name of readdirSync(join(cache, "tvix-ts", "ast")).filter((n) => !n.startsWith("s-"))) rmSync(join(cache, "tvix-ts", "ast", name));
    assert.equal(v(), "1");
    assert.equal(entries(""), 1);
    // positions still come out right, read from the file when asked for
    const pos = evalIn(`(import ${lib}).p`, ["--strict"]).out;
    assert.match(pos, new RegExp(`line = ${pad.split("\n").length}; `));
    // same size, other text, and the old times put back: the change time still tells
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
    const st = statSync(lib);
    writeFileSync(lib, text("2"));
    utimesSync(lib, st.atime, st.mtime);
    assert.equal(statSync(lib).size, st.size);
    assert.equal(v(), "2");
    // a damaged stamped entry is passed over
    for (const name of readdirSync(join(cache, "tvix-ts", "ast")).filter((n) => n.startsWith("s-"))) writeFileSync(join(cache, "tvix-ts", "ast", name), "TVIXSTM1garbage");
    assert.equal(v(), "2");
  } finally {
    for (const [k, val] of Object.entries(saved)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  }
});
