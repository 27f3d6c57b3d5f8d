// Unpacks a downloaded archive (fetchTarball, fetchTree type=tarball) into a
// fresh directory: tar with tar-stream, compressed by gzip (zlib), xz, bzip2
// or zstd (their CLI tools, as streams), and zip (the unzip tool). Like Nix,
// an archive holding a single top-level directory yields that directory.
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, openSync, readSync, closeSync, readdirSync, symlinkSync, writeFileSync, chmodSync, linkSync } from "node:fs";
import { join, normalize, dirname } from "node:path";
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { fetchCacheDir } from "./download";

function magic(file: string): Buffer {
  const fd = openSync(file, "r");
  const b = Buffer.alloc(8);
  readSync(fd, b, 0, 8, 0);
  closeSync(fd);
  return b;
}

function decompressor(file: string): { kind: string; stream: () => Readable } {
  const m = magic(file);
  const viaTool = (tool: string) => () => {
    const p = spawn(tool, ["-dc", file], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => (err += d));
    p.on("error", (e) => p.stdout.destroy(new Error(`cannot run ${tool}: ${e.message}`)));
    p.on("close", (code) => {
      if (code !== 0) p.stdout.destroy(new Error(`${tool} failed: ${err.trim()}`));
    });
    return p.stdout;
  };
  if (m[0] === 0x1f && m[1] === 0x8b) return { kind: "gzip", stream: () => createReadStream(file).pipe(createGunzip()) };
  if (m.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return { kind: "xz", stream: viaTool("xz") };
  if (m.subarray(0, 3).toString("latin1") === "BZh") return { kind: "bzip2", stream: viaTool("bzip2") };
  if (m.readUInt32LE(0) === 0xfd2fb528) return { kind: "zstd", stream: viaTool("zstd") };
  if (m[0] === 0x50 && m[1] === 0x4b && m[2] === 0x03 && m[3] === 0x04) return { kind: "zip", stream: () => Readable.from([]) };
  return { kind: "none", stream: () => createReadStream(file) };
}

/** Resolves an archive member name inside root, refusing names that escape it. */
function memberPath(root: string, name: string): string {
  const n = normalize(name).replace(/^\/+/, "");
  if (n === "." || n === "" ) return root;
  if (n.startsWith("../") || n === "..") throw new Error(`archive member '${name}' points outside the archive`);
  return join(root, n);
}

async function untar(source: Readable, root: string): Promise<void> {
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const target = memberPath(root, h.name);
      mkdirSync(dirname(target), { recursive: true });
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      switch (h.type) {
        case "directory":
          mkdirSync(target, { recursive: true });
          break;
        case "file":
        case "contiguous-file":
          writeFileSync(target, Buffer.concat(chunks));
          chmodSync(target, (h.mode ?? 0o644) & 0o100 ? 0o755 : 0o644);
          break;
        case "symlink":
          symlinkSync(h.linkname ?? "", target);
          break;
        case "link":
          linkSync(memberPath(root, h.linkname ?? ""), target);
          break;
        default:
          throw new Error(`unsupported tar member type '${h.type}' for '${h.name}'`);
      }
    }
  })();
  await Promise.all([pipeline(source, extract).catch((e) => { throw e; }), done]);
}

export async function unpackArchive(req: { file: string; url: string }): Promise<{ dir: string }> {
  const base = join(fetchCacheDir(), "unpack");
  mkdirSync(base, { recursive: true });
  const root = mkdtempSync(join(base, "u-"));
  const d = decompressor(req.file);
  try {
    if (d.kind === "zip") {
      const r = spawnSync("unzip", ["-qq", "-o", req.file, "-d", root], { encoding: "utf8" });
      if (r.error) throw new Error(`cannot run unzip: ${r.error.message}`);
      if (r.status !== 0) throw new Error(`unzip failed: ${r.stderr.trim()}`);
    } else await untar(d.stream(), root);
  } catch (e) {
    throw new Error(`failed to unpack the archive downloaded from '${req.url}' (${d.kind}): ${(e as Error).message}`);
  }
  const entries = readdirSync(root);
  if (entries.length !== 1) throw new Error(`tarball '${req.url}' contains an unexpected number of top-level files`);
  return { dir: join(root, entries[0]) };
}
