// Unpacks a downloaded archive (fetchTarball, fetchTree type=tarball) into
// a tree in memory: tar through tar-stream, compressed with gzip (zlib), xz,
// bzip2 or zstd (their tools, as streams), and zip (the unzip tool, into a
// private directory read back). Like Nix, an archive holding a single
// top-level directory yields that directory.
//
// The tar's members are placed in the tree, never on the host's disk, so a
// member can only ever land inside the archive's own tree: names that climb
// out (`..`), paths through a symlink member, and hard links to anything
// but an earlier regular file are refused.
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, openSync, readSync, closeSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { treeToNode, type NarNode } from "../../core/nar";
import { hostTree } from "../../stores/host-tree";
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

type Dir = Extract<NarNode, { type: "directory" }>;

/** A member name's components; names that climb out of the archive are refused. */
function components(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") throw new Error(`archive member '${name}' points outside the archive`);
    out.push(c);
  }
  return out;
}

/** The directory that holds a member, made as needed; refuses paths through anything but directories. */
function parentDir(root: Dir, parts: string[], name: string): Dir {
  let d = root;
  for (const c of parts.slice(0, -1)) {
    let next = d.entries.get(c);
    if (next === undefined) d.entries.set(c, (next = { type: "directory", entries: new Map() }));
    if (next.type !== "directory") throw new Error(`archive member '${name}' is inside '${c}', which is a ${next.type === "symlink" ? "symlink" : "file"}`);
    d = next;
  }
  return d;
}

async function untar(source: Readable, root: Dir): Promise<void> {
  const extract = tar.extract();
  source.on("error", (e) => extract.destroy(e));
  source.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const parts = components(h.name);
    if (parts.length === 0) continue; // "./" itself
    const dir = parentDir(root, parts, h.name);
    const leaf = parts[parts.length - 1];
    const existing = dir.entries.get(leaf);
    switch (h.type) {
      case "directory":
        if (existing?.type !== "directory") dir.entries.set(leaf, { type: "directory", entries: new Map() });
        break;
      case "file":
      case "contiguous-file":
        if (existing?.type === "directory") throw new Error(`archive member '${h.name}' replaces a directory`);
        dir.entries.set(leaf, { type: "regular", executable: ((h.mode ?? 0o644) & 0o100) !== 0, contents: Buffer.concat(chunks) });
        break;
      case "symlink":
        if (existing?.type === "directory") throw new Error(`archive member '${h.name}' replaces a directory`);
        if (!h.linkname) throw new Error(`archive member '${h.name}' is a symlink without a target`);
        dir.entries.set(leaf, { type: "symlink", target: h.linkname });
        break;
      case "link": {
        // a hard link: the same file as an earlier member, found without following symlinks
        const tparts = components(h.linkname ?? "");
        let t: NarNode | undefined = root;
        for (const c of tparts) t = t?.type === "directory" ? t.entries.get(c) : undefined;
        if (t?.type !== "regular") throw new Error(`archive member '${h.name}' is a hard link to '${h.linkname}', which is not an earlier regular file`);
        if (existing?.type === "directory") throw new Error(`archive member '${h.name}' replaces a directory`);
        dir.entries.set(leaf, { ...t });
        break;
      }
      default:
        throw new Error(`unsupported tar member type '${h.type}' for '${h.name}'`);
    }
  }
}

export interface UnpackRequest {
  file: string;
  url: string;
}

/** The archive's tree (its single top-level directory). */
export async function unpackArchive(req: UnpackRequest): Promise<NarNode> {
  const root: Dir = { type: "directory", entries: new Map() };
  const d = decompressor(req.file);
  try {
    if (d.kind === "zip") await unzipInto(req.file, root);
    else await untar(d.stream(), root);
  } catch (e) {
    throw new Error(`failed to unpack the archive downloaded from '${req.url}' (${d.kind}): ${(e as Error).message}`);
  }
  if (root.entries.size !== 1) throw new Error(`tarball '${req.url}' contains an unexpected number of top-level files`);
  return [...root.entries.values()][0];
}

/** zip: unzip into a private directory, read back without following symlinks, removed. */
async function unzipInto(file: string, root: Dir): Promise<void> {
  const base = join(fetchCacheDir(), "unpack");
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, "u-"));
  try {
    const r = spawnSync("unzip", ["-qq", "-o", file, "-d", dir], { encoding: "utf8" });
    if (r.error) throw new Error(`cannot run unzip: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`unzip failed: ${r.stderr.trim()}`);
    const tree = treeToNode(hostTree, dir);
    if (tree.type === "directory") for (const [k, v] of tree.entries) root.entries.set(k, v);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
