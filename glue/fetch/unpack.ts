// Unpacks a downloaded archive (fetchTarball, fetchTree type=tarball) into
// a tree in memory: tar through tar-stream, compressed with gzip, xz, bzip2
// or zstd (decompressed in-process, stores/compression.ts), and zip (read
// whole, core/zip.ts). Like Nix, an archive holding a single top-level
// directory yields that directory.
//
// Members are placed in the tree, never on the host's disk, so a member can
// only ever land inside the archive's own tree: names that climb out
// (`..`), paths through a symlink member, device nodes, fifos and hard
// links to anything but an earlier regular file are refused.
import { createReadStream, openSync, readSync, closeSync, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import tar from "tar-stream";
import type { NarNode } from "../../core/nar";
import { readZip } from "../../core/zip";
import { decompress, type Compression } from "../../stores/compression";

function magic(file: string): Buffer {
  const fd = openSync(file, "r");
  const b = Buffer.alloc(8);
  readSync(fd, b, 0, 8, 0);
  closeSync(fd);
  return b;
}

function decompressor(file: string): { kind: Compression | "zip"; stream: () => Readable } {
  const m = magic(file);
  const via = (kind: Compression) => ({ kind, stream: () => Readable.from(decompress(kind, createReadStream(file))) });
  if (m[0] === 0x1f && m[1] === 0x8b) return via("gzip");
  if (m.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return via("xz");
  if (m.subarray(0, 3).toString("latin1") === "BZh") return via("bzip2");
  if (m.readUInt32LE(0) === 0xfd2fb528) return via("zstd");
  if (m[0] === 0x50 && m[1] === 0x4b && (m[2] === 0x03 || m[2] === 0x05) && (m[3] === 0x04 || m[3] === 0x06)) return { kind: "zip", stream: () => Readable.from([]) };
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
    if (d.kind === "zip") unzipInto(req.file, root);
    else await untar(d.stream(), root);
  } catch (e) {
    throw new Error(`failed to unpack the archive downloaded from '${req.url}' (${d.kind}): ${(e as Error).message}`);
  }
  if (root.entries.size !== 1) throw new Error(`tarball '${req.url}' contains an unexpected number of top-level files`);
  return [...root.entries.values()][0];
}

/** zip: the whole file read, its members placed like a tar's. */
function unzipInto(file: string, root: Dir): void {
  for (const m of readZip(readFileSync(file))) {
    const parts = components(m.name);
    if (parts.length === 0) continue;
    const dir = parentDir(root, parts, m.name);
    const leaf = parts[parts.length - 1];
    const existing = dir.entries.get(leaf);
    if (m.type === "directory") {
      if (existing?.type !== "directory") dir.entries.set(leaf, { type: "directory", entries: new Map() });
      continue;
    }
    if (existing?.type === "directory") throw new Error(`archive member '${m.name}' replaces a directory`);
    if (m.type === "other") throw new Error(`archive member '${m.name}' is a device, fifo or socket`);
    if (m.type === "symlink") {
      const target = Buffer.from(m.data()).toString("utf8");
      if (!target) throw new Error(`archive member '${m.name}' is a symlink without a target`);
      dir.entries.set(leaf, { type: "symlink", target });
    } else dir.entries.set(leaf, { type: "regular", executable: (m.mode & 0o100) !== 0, contents: Buffer.from(m.data()) });
  }
}
