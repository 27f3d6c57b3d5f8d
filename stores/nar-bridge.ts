// The NAR bridge: NAR streams in and out of castore.
//
// ingestNar() reads a NAR once: file contents go to the BlobService as they
// stream by (blob writes overlap with reading), the NAR's sha256 and size are
// computed on the way, and only once the whole NAR has been read and matches
// the expected hash/size are the Directory messages written (bottom-up, so
// that every directory's children exist before it). On a mismatch or a
// broken stream nothing but unreferenced blobs has been written.
//
// renderNar() walks a root node and writes the NAR back with core/nar.ts's
// NarWriter: byte-identical to the NAR that was ingested.
import { basename } from "node:path";
import type { BlobService, CastoreNode, DirectoryService, PathInfo } from "./types";
import { NarWriter, dumpPath, narStream, readNar } from "../core/nar";
import { Hash, createHasher } from "../core/hash";
import { directoryEntries, directoryFromEntries, directorySize, showName, toHex } from "../core/castore";
import { makeFixedOutputPath } from "../core/store-path";

export interface CastoreServices {
  blobs: BlobService;
  directories: DirectoryService;
}

export class NarMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NarMismatchError";
  }
}

export interface IngestResult {
  /** The root node, with an empty name (the caller names it). */
  node: CastoreNode;
  narHash: Hash;
  narSize: number;
}

type Pending =
  | { type: "file"; executable: boolean; size: number; digest: Promise<Uint8Array> }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: Map<string, Pending> };

/** Files up to this size are collected in memory and stored with one put(). */
const BUFFER_FILES_UP_TO = 1024 * 1024;
/**
 * Blob puts allowed in flight while the NAR is still being read. A local
 * store has already written their bytes to temp files; what is pending is
 * the group commit that makes them durable, so reading runs ahead.
 */
const MAX_IN_FLIGHT = 16384;

const enc = new TextEncoder();
const dec = new TextDecoder();

async function collect(contents: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const buf = new Uint8Array(size);
  let o = 0;
  for await (const c of contents) {
    buf.set(c, o);
    o += c.length;
  }
  return buf;
}

/** Ingests a NAR stream into castore; checks `expected` hash and size when given. */
export async function ingestNar(
  services: CastoreServices,
  source: AsyncIterable<Uint8Array>,
  expected: { narHash?: string; narSize?: number } = {},
): Promise<IngestResult> {
  const hasher = createHasher("sha256");
  let narSize = 0;
  const hashed = (async function* () {
    for await (const c of source) {
      hasher.update(c);
      narSize += c.length;
      yield c;
    }
  })();

  // blob puts still running; the reader waits when there are too many
  let inFlight = 0;
  let wakeReader: (() => void) | null = null;
  const all: Promise<unknown>[] = [];
  const track = (p: Promise<Uint8Array>): Promise<Uint8Array> => {
    inFlight++;
    const settle = () => {
      inFlight--;
      const w = wakeReader;
      wakeReader = null;
      w?.();
    };
    p.then(settle, settle);
    all.push(p);
    p.catch(() => {}); // observed below, after the NAR is read
    return p;
  };

  let root: Pending | undefined;
  const dirs = new Map<string, Map<string, Pending>>();
  const place = (path: string[], node: Pending) => {
    if (path.length === 0) root = node;
    else dirs.get(path.slice(0, -1).join("/"))!.set(path[path.length - 1], node);
  };

  try {
    await readNar(hashed, {
      directory(path) {
        const entries = new Map<string, Pending>();
        dirs.set(path.join("/"), entries);
        place(path, { type: "directory", entries });
      },
      async file(path, executable, size, contents) {
        while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (wakeReader = r));
        let digest: Promise<Uint8Array>;
        if (size <= BUFFER_FILES_UP_TO) {
          digest = track(services.blobs.put(await collect(contents, size)));
        } else {
          let drained!: () => void;
          const done = new Promise<void>((r) => (drained = r));
          const stream = (async function* () {
            for await (const c of contents) yield c;
            drained();
          })();
          digest = track(services.blobs.put(stream));
          await Promise.race([done, digest]);
        }
        place(path, { type: "file", executable, size, digest });
      },
      symlink(path, target) {
        place(path, { type: "symlink", target });
      },
    });
  } catch (e) {
    // a failed blob write explains a broken read better than the read error
    const failed = (await Promise.allSettled(all)).find((s) => s.status === "rejected");
    throw failed ? (failed as PromiseRejectedResult).reason : e;
  }
  const narHash = hasher.digest();
  const settled = await Promise.allSettled(all);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  if (expected.narHash !== undefined) {
    const want = Hash.parse(expected.narHash);
    if (!want.equals(narHash))
      throw new NarMismatchError(`NAR hash mismatch: expected ${want.toString()}, got ${narHash.toString()}`);
  }
  if (expected.narSize !== undefined && expected.narSize !== narSize)
    throw new NarMismatchError(`NAR size mismatch: expected ${expected.narSize} bytes, got ${narSize}`);
  const node = await finalise(services.directories, new Uint8Array(0), root!);
  return { node, narHash, narSize };
}

/** Turns a pending node into a castore node, writing directories bottom-up. */
async function finalise(dirs: DirectoryService, name: Uint8Array, p: Pending): Promise<CastoreNode> {
  if (p.type === "file") return { type: "file", name, digest: await p.digest, size: BigInt(p.size), executable: p.executable };
  if (p.type === "symlink") return { type: "symlink", name, target: enc.encode(p.target) };
  const children = await Promise.all([...p.entries].map(([n, c]) => finalise(dirs, enc.encode(n), c)));
  const dir = directoryFromEntries(children);
  const digest = await dirs.put(dir);
  return { type: "directory", name, digest, size: directorySize(dir) };
}

/** Writes the NAR of a castore node into a NarWriter (not finishing it). */
export async function writeNode(services: CastoreServices, w: NarWriter, node: CastoreNode): Promise<void> {
  if (node.type === "symlink") return w.symlink(dec.decode(node.target));
  if (node.type === "file") {
    const contents = await services.blobs.open(node.digest);
    if (!contents) throw new Error(`blob ${toHex(node.digest)} of file '${showName(node.name)}' is missing from the blob service`);
    return w.regular(node.executable, Number(node.size), contents);
  }
  const dir = await services.directories.get(node.digest);
  if (!dir) throw new Error(`directory ${toHex(node.digest)} ('${showName(node.name)}') is missing from the directory service`);
  await w.startDirectory();
  for (const e of directoryEntries(dir)) {
    await w.entry(dec.decode(e.name));
    await writeNode(services, w, e);
  }
  await w.endDirectory();
}

/** The NAR of a castore node as a stream. */
export function renderNar(services: CastoreServices, node: CastoreNode): AsyncIterable<Uint8Array> {
  return narStream((w) => writeNode(services, w, node));
}

/**
 * Imports a file system path like `nix-store --add`: the path's NAR goes into
 * castore, and the store path is the recursive-sha256 fixed-output path of
 * its NAR hash. Returns the PathInfo (not yet registered anywhere).
 */
export async function ingestPath(services: CastoreServices, fsPath: string, storeDir: string, name = basename(fsPath)): Promise<PathInfo> {
  const r = await ingestNar(services, dumpPath(fsPath));
  const sp = makeFixedOutputPath(name, r.narHash, true, [], storeDir);
  return {
    storePath: sp.toAbsolute(storeDir),
    node: { ...r.node, name: enc.encode(sp.toString()) },
    narHash: r.narHash.toString(),
    narSize: r.narSize,
    references: [],
    signatures: [],
    ca: `fixed:r:${r.narHash.toString()}`,
  };
}
