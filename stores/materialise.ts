// Materialisation: writes a store path out of castore as a real tree under a
// store directory (what a builder or `nix-store --realise` needs on disk).
//
// The tree is built under a temp name next to the target and renamed into
// place at the end, so the target either does not exist or is complete.
// Non-executable files whose blob is a single chunk with a loose chunk file
// in a local store are hard-linked from that file (chunk files are
// read-only, mode 0444, like files in a Nix store); everything else,
// including chunks in pack files, is written out.
import { chmodSync, closeSync, lutimesSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempTag } from "../core/digest";
import type { CastoreNode } from "./types";
import type { CastoreNixStore } from "./castore-store";
import { InvalidPathError } from "./castore-store";
import { LocalStore } from "./local";
import { directoryEntries, showName, toHex } from "../core/castore";
import { mkdirs } from "./mkdirs";
import { removeTree } from "./fs-view";

const dec = new TextDecoder();

export interface MaterialiseStats {
  files: number;
  hardlinked: number;
  bytesWritten: number;
}

/** Writes `storePath` from `store` to <targetStoreDir>/<basename>; returns that path. Existing targets are left alone. */
export async function materialise(store: CastoreNixStore, storePath: string, targetStoreDir: string, stats?: MaterialiseStats): Promise<string> {
  const info = await store.pathInfo(storePath);
  if (!info) throw new InvalidPathError(storePath, store.url);
  const base = storePath.slice(storePath.lastIndexOf("/") + 1);
  const target = join(targetStoreDir, base);
  if (existsSync(target)) return target;
  mkdirs(targetStoreDir, 0o755);
  const tmp = join(targetStoreDir, `.tmp-${base}-${process.pid}-${tempTag(4)}`);
  const st = stats ?? { files: 0, hardlinked: 0, bytesWritten: 0 };
  try {
    await writeTree(store, info.node, tmp, st);
    renameSync(tmp, target);
  } catch (e) {
    if (!(e as NodeJS.ErrnoException).code?.match(/^(ENOTEMPTY|EEXIST)$/) || !existsSync(target)) {
      removeTree(tmp);
      throw e;
    }
    // someone else materialised it first
    removeTree(tmp);
  }
  return target;
}

// Like Nix's canonical store paths, everything gets mtime 1 (builds that
// record input times, tar for one, then see what they see under Nix). A loop
// with its own stack, not recursion: trees may be deeper than the call stack.
async function writeTree(store: CastoreNixStore, root: CastoreNode, rootPath: string, st: MaterialiseStats): Promise<void> {
  const open: { path: string; entries: CastoreNode[]; i: number }[] = [];
  let node: CastoreNode | null = root;
  let path = rootPath;
  for (;;) {
    if (node) {
      if (node.type === "symlink") {
        symlinkSync(dec.decode(node.target), path);
        lutimesSync(path, 1, 1);
      } else if (node.type === "file") {
        await writeFile(store, node, path, st);
        lutimesSync(path, 1, 1);
      } else {
        const dir = await store.directories.get(node.digest);
        if (!dir) throw new Error(`directory ${toHex(node.digest)} ('${showName(node.name)}') is missing from the directory service`);
        mkdirSync(path, { mode: 0o755 });
        open.push({ path, entries: directoryEntries(dir), i: 0 });
      }
      node = null;
    }
    const top = open[open.length - 1];
    if (!top) return;
    if (top.i === top.entries.length) {
      chmodSync(top.path, 0o555);
      lutimesSync(top.path, 1, 1);
      open.pop();
      continue;
    }
    node = top.entries[top.i++];
    path = join(top.path, dec.decode(node.name));
  }
}

async function writeFile(store: CastoreNixStore, node: Extract<CastoreNode, { type: "file" }>, path: string, st: MaterialiseStats): Promise<void> {
  st.files++;
  if (store instanceof LocalStore && !node.executable) {
    const chunks = await store.blobs.chunks(node.digest);
    if (chunks && chunks.length === 1) {
      // verify before handing the file out (the loose file itself, when there is one to link)
      const loose = store.chunkBackend.loosePath(node.digest);
      const data = loose ? await store.blobs.verifiedChunk(node.digest, readFileSync(loose)) : await store.blobs.readVerifiedChunk(node.digest);
      if (BigInt(data.length) !== node.size) throw new Error(`blob ${toHex(node.digest)} has ${data.length} bytes, the file node says ${node.size}`);
      if (loose) {
        try {
          linkSync(loose, path);
          st.hardlinked++;
          return;
        } catch {
          // other file system, or link limit: write a copy below
        }
      }
      return writeOut(path, [data], node, st);
    }
  }
  const contents = await store.blobs.open(node.digest);
  if (!contents) throw new Error(`blob ${toHex(node.digest)} of file '${showName(node.name)}' is missing from the blob service`);
  return writeOut(path, contents, node, st);
}

async function writeOut(path: string, contents: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, node: Extract<CastoreNode, { type: "file" }>, st: MaterialiseStats): Promise<void> {
  const fd = openSync(path, "wx", 0o644);
  let size = 0;
  try {
    for await (const c of contents) {
      writeSync(fd, c);
      size += c.length;
    }
    if (BigInt(size) !== node.size) throw new Error(`blob ${toHex(node.digest)} has ${size} bytes, the file node says ${node.size}`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  st.bytesWritten += size;
  chmodSync(path, node.executable ? 0o555 : 0o444);
}
