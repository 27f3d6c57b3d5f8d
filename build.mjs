#!/usr/bin/env node
// Bundles tvix-ts into dist/tvix: one executable (a Node single executable
// application) that needs no node_modules and no TypeScript at run time.
//
// Layout of the binary (see docs/packaging.md):
//   - dist/app.mjs: the whole program as one ESM bundle (ESM because ink's
//     yoga-layout uses top-level await), embedded as the SEA asset "app.mjs".
//   - dist/sea-entry.cjs: Node 20's SEA entry must be CommonJS; it writes the
//     asset once to a content-addressed file in the cache directory and
//     import()s it from there (so worker threads can re-enter it by URL).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const onlyBundle = process.argv.includes("--bundle-only");
mkdirSync(dist, { recursive: true });

const emptyModule = join(dist, "empty.mjs");
writeFileSync(emptyModule, "export default undefined;\n");

const t0 = Date.now();
await build({
  entryPoints: [join(root, "cmd/main.ts")],
  outfile: join(dist, "app.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minifySyntax: true,
  sourcemap: false,
  legalComments: "none",
  alias: { "react-devtools-core": emptyModule },
  define: { "process.env.NODE_ENV": '"production"' },
  banner: {
    js: "import { createRequire as __tvixCreateRequire } from 'node:module'; const require = __tvixCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
});
const app = readFileSync(join(dist, "app.mjs"));
const appHash = createHash("sha256").update(app).digest("hex").slice(0, 32);

// The CommonJS entry of the single executable.
writeFileSync(
  join(dist, "sea-entry.cjs"),
  `"use strict";
const { getAsset } = require("node:sea");
const fs = require("node:fs");
const path = require("node:path");
const os = require("node:os");
const { pathToFileURL } = require("node:url");
const hash = ${JSON.stringify(appHash)};
function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? path.join(process.env.HOME, ".cache") : os.tmpdir());
  return path.join(base, "tvix-ts");
}
function materialise() {
  const candidates = [cacheDir(), path.join(os.tmpdir(), "tvix-ts-" + (process.getuid ? process.getuid() : "u"))];
  for (const dir of candidates) {
    const file = path.join(dir, "app-" + hash + ".mjs");
    try { if (fs.statSync(file).size > 0) return file; } catch {}
    try {
      fs.mkdirSync(dir, { recursive: true });
      const tmp = file + "." + process.pid + ".tmp";
      const fd = fs.openSync(tmp, "w", 0o644);
      fs.writeSync(fd, Buffer.from(getAsset("app.mjs")));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, file);
      return file;
    } catch {}
  }
  return null;
}
const file = materialise();
const url = file ? pathToFileURL(file).href
  : "data:text/javascript;base64," + Buffer.from(getAsset("app.mjs")).toString("base64");
import(url).catch((e) => { process.stderr.write("error: " + (e && e.message || e) + "\\n"); process.exit(1); });
`,
);
console.log(`bundle: dist/app.mjs ${(app.length / 1e6).toFixed(2)} MB in ${Date.now() - t0} ms`);
if (onlyBundle) process.exit(0);

writeFileSync(
  join(dist, "sea-config.json"),
  JSON.stringify({
    main: join(dist, "sea-entry.cjs"),
    output: join(dist, "sea-prep.blob"),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    assets: { "app.mjs": join(dist, "app.mjs") },
  }),
);
execFileSync(process.execPath, ["--experimental-sea-config", join(dist, "sea-config.json")], { stdio: "inherit" });
const bin = join(dist, "tvix");
rmSync(bin, { force: true });
copyFileSync(process.execPath, bin);
chmodSync(bin, 0o755);
const postject = join(root, "node_modules/postject/dist/cli.js");
execFileSync(
  process.execPath,
  [postject, bin, "NODE_SEA_BLOB", join(dist, "sea-prep.blob"), "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"],
  { stdio: "pipe" }, // postject warns about ELF notes on stderr; it throws on real failure
);
console.log(`binary: dist/tvix ${(statSync(bin).size / 1e6).toFixed(1)} MB in ${Date.now() - t0} ms`);
