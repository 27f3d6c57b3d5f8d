// `tvix copy` vs `nix copy` of a ~200 MB closure between two file:// binary
// caches (compression none and zstd), same source, fresh targets each time.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { have, makeTree, ratioLine, timeShell } from "./util";

if (!have("nix-store") || !have("nix")) {
  console.log("nix not installed: skipping the copy benchmark");
  process.exit(0);
}
const NIXCFG = "substituters =\nexperimental-features = nix-command\n";
process.env.NIX_CONFIG = NIXCFG;
const root = "/tmp/tvix-bench-copy";
mkdirSync(root, { recursive: true });

// three trees of ~65 MB each (small files + large files), plus a text file referencing them
const parts = [0, 1, 2].map((i) => makeTree(`copy${i}`, 1500 + i, 3, 16));
const sh = (cmd: string) => {
  const r = spawnSync("bash", ["-c", cmd], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout.trim();
};
const paths = parts.map((p) => sh(`nix-store --add ${p}`));
const exprFile = join(root, "top.nix");
writeFileSync(exprFile, `builtins.toFile "bench-top" "${parts.map((p) => `\${${p}}`).join(" ")}"`);
const top = sh(`nix-instantiate --eval --read-write-mode ${exprFile}`).replace(/"/g, "");
const src = join(root, "src");
if (!existsSync(join(src, "nix-cache-info"))) sh(`nix copy --to 'file://${src}?compression=none' ${top}`);
const narBytes = Number(sh(`nix path-info -S ${top}`).split(/\s+/).pop());
console.log(`closure: ${paths.length + 1} paths, ${(narBytes / 1e6).toFixed(0)} MB of NAR`);

// the single binary when built (node build.mjs), else from sources through tsx (~1 s more startup)
const dist = join(import.meta.dirname, "..", "dist", "tvix");
const tvix = existsSync(dist) ? dist : `${process.execPath} --import tsx ${join(import.meta.dirname, "..", "cmd", "main.ts")}`;
console.log(`ours: ${existsSync(dist) ? "dist/tvix" : "tsx cmd/main.ts"}`);
for (const compression of ["none", "zstd"]) {
  const a = join(root, `ours-${compression}`);
  const b = join(root, `theirs-${compression}`);
  rmSync(a, { recursive: true, force: true });
  rmSync(b, { recursive: true, force: true });
  const ours = timeShell(`${tvix} copy --from file://${src} --to 'file://${a}?compression=${compression}' ${top} 2>/dev/null`);
  const theirs = timeShell(`nix copy --from file://${src} --to 'file://${b}?compression=${compression}' ${top} 2>/dev/null`);
  if (!ours.ok || !theirs.ok) console.log(`copy failed (ours ok: ${ours.ok}, theirs ok: ${theirs.ok})`);
  console.log(ratioLine(`copy file:// -> file:// (compression=${compression})`, ours.ms, theirs.ms, narBytes));
}
