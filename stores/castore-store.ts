// A NixStore over castore services: path infos name root nodes, NARs are
// ingested (addToStore) and rendered (narFromPath) by the NAR bridge.
import type { BlobHashes } from "./blob-hasher";
import type { BlobService, CastoreStore, DirectoryService, NixPathInfo, PathInfo, PathInfoService } from "./types";
import { ingestNar, ingestNarTreeDeferred, renderNar } from "./nar-bridge";
import type { NarNode } from "../core/nar";
import { StorePath } from "../core/store-path";
import { caVerifier } from "./ca-verify";
import { IN_MEMORY, checkNarAhead } from "./nar-spool";
import { settleAll } from "./settle";

export class InvalidPathError extends Error {
  constructor(path: string, url: string) {
    super(`path '${path}' is not valid in store '${url}'`);
    this.name = "InvalidPathError";
  }
}

export function toNixPathInfo(p: PathInfo): NixPathInfo {
  const { node: _node, ...rest } = p;
  return rest;
}

export class CastoreNixStore implements CastoreStore {
  constructor(
    readonly url: string,
    readonly storeDir: string,
    readonly blobs: BlobService,
    readonly directories: DirectoryService,
    readonly pathInfos: PathInfoService,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  /** The full path info (with its castore root node), or null. */
  async pathInfo(storePath: string): Promise<PathInfo | null> {
    const sp = StorePath.parseAbsolute(storePath, this.storeDir);
    const info = await this.pathInfos.get(sp.hashPart);
    if (!info || info.storePath !== storePath) return null;
    return info;
  }

  /** queryPathInfo() answered synchronously, when the path info service can (a local store): else undefined. */
  queryPathInfoNow(storePath: string): NixPathInfo | null | undefined {
    if (!this.pathInfos.getNow) return undefined;
    const sp = StorePath.parseAbsolute(storePath, this.storeDir);
    const info = this.pathInfos.getNow(sp.hashPart);
    if (info === undefined) return undefined;
    return info && info.storePath === storePath ? toNixPathInfo(info) : null;
  }

  async queryPathInfo(storePath: string): Promise<NixPathInfo | null> {
    const info = await this.pathInfo(storePath);
    return info && toNixPathInfo(info);
  }

  async *narFromPath(storePath: string): AsyncIterable<Uint8Array> {
    const info = await this.pathInfo(storePath);
    if (!info) throw new InvalidPathError(storePath, this.url);
    yield* renderNar(this, info.node);
  }

  async addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void> {
    const sp = StorePath.parseAbsolute(info.storePath, this.storeDir);
    // a content address must be well-formed and describe the NAR, signatures checked or not (as Nix);
    // a NAR of up to IN_MEMORY bytes is checked whole before any of it is stored (a refused one leaves no blobs)
    const ca = info.ca ? caVerifier(info.storePath, info.ca) : null;
    const ahead = await checkNarAhead(nar, { narHash: info.narHash, narSize: info.narSize }, ca, info.narSize > IN_MEMORY ? 0 : IN_MEMORY);
    let r;
    if (ahead.checked) {
      r = await ingestNar(this, (async function* () {
        yield* ahead.nar;
      })());
    } else {
      r = await ingestNar(this, ahead.nar, { narHash: info.narHash, narSize: info.narSize });
      ahead.finish(r.narHash);
    }
    // every blob and directory is durable by now: only then the path info
    await this.pathInfos.put({ ...info, narHash: r.narHash.toString(), node: { ...r.node, name: new TextEncoder().encode(sp.toString()) } });
  }

  /**
   * addToStore() of a NAR parsed in memory and already checked against
   * `info` (its hash, size and content address); `rootHashes`: a
   * single-file tree's blob hashes, when the caller has computed them.
   */
  async addTreeToStore(info: NixPathInfo, tree: NarNode, rootHashes?: BlobHashes): Promise<void> {
    const sp = StorePath.parseAbsolute(info.storePath, this.storeDir);
    const { node, durable } = await ingestNarTreeDeferred(this, tree, rootHashes);
    const full = { ...info, node: { ...node, name: new TextEncoder().encode(sp.toString()) } };
    // the path info only once every blob and directory is durable (in the same commit at the earliest)
    if (this.pathInfos.putAfter) return this.pathInfos.putAfter(full, durable);
    await settleAll(durable);
    await this.pathInfos.put(full);
  }

  /** Registers an already ingested path (from ingestPath), after its blobs and directories. */
  async registerPath(info: PathInfo): Promise<void> {
    StorePath.parseAbsolute(info.storePath, this.storeDir);
    await this.pathInfos.put(info);
  }

  /** Invalidates a path: its info goes, its blobs and directories stay (shared with other paths). */
  async deletePath(storePath: string): Promise<void> {
    const sp = StorePath.parseAbsolute(storePath, this.storeDir);
    if (!this.pathInfos.delete) throw new Error(`store '${this.url}' cannot delete paths`);
    if (!(await this.pathInfo(storePath))) return;
    await this.pathInfos.delete(sp.hashPart);
  }

  async addSignatures(storePath: string, signatures: readonly string[]): Promise<void> {
    const info = await this.pathInfo(storePath);
    if (!info) throw new InvalidPathError(storePath, this.url);
    const merged = [...new Set([...info.signatures, ...signatures])];
    if (merged.length === info.signatures.length) return;
    await this.pathInfos.put({ ...info, signatures: merged });
  }

  async queryPathFromHashPart(hashPart: string): Promise<string | null> {
    if (!/^[0-9a-df-np-sv-z]{32}$/.test(hashPart)) return null;
    return (await this.pathInfos.get(hashPart))?.storePath ?? null;
  }

  async *listPaths(): AsyncIterable<string> {
    for await (const p of this.pathInfos.list()) yield p.storePath;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
