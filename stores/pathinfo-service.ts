// A PathInfoService over a backend of JSON documents keyed by the store
// path's hash part, and the JSON form of a PathInfo (digests in hex, names
// and symlink targets in base64 since they are bytes).
import type { CastoreNode, PathInfo, PathInfoService } from "./types";
import { fromHex, toHex, validateNode } from "../core/castore";
import { StorePath } from "../core/store-path";
import { settleAll } from "./settle";

export interface DocumentBackend {
  read(key: string): Promise<string | null>;
  /** Optional: read() synchronously (a local file). */
  readNow?(key: string): string | null;
  /** Durable when it resolves; replaces an existing document atomically. */
  write(key: string, doc: string): Promise<void>;
  /** Optional: write() once every write in `after` is durable, and never before (see PathInfoService.putAfter()). */
  writeAfter?(key: string, doc: string, after: Promise<unknown>[]): Promise<void>;
  keys(): AsyncIterable<string>;
  /** Removes a document (durable when it resolves); absent ones are fine. */
  delete?(key: string): Promise<void>;
}

type NodeJson =
  | { type: "directory"; name: string; digest: string; size: string }
  | { type: "file"; name: string; digest: string; size: string; executable: boolean }
  | { type: "symlink"; name: string; target: string };

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

export function nodeToJson(n: CastoreNode): NodeJson {
  if (n.type === "directory") return { type: "directory", name: b64(n.name), digest: toHex(n.digest), size: n.size.toString() };
  if (n.type === "file") return { type: "file", name: b64(n.name), digest: toHex(n.digest), size: n.size.toString(), executable: n.executable };
  return { type: "symlink", name: b64(n.name), target: b64(n.target) };
}

export function nodeFromJson(j: NodeJson): CastoreNode {
  if (j.type === "directory") return { type: "directory", name: unb64(j.name), digest: fromHex(j.digest), size: BigInt(j.size) };
  if (j.type === "file") return { type: "file", name: unb64(j.name), digest: fromHex(j.digest), size: BigInt(j.size), executable: !!j.executable };
  if (j.type === "symlink") return { type: "symlink", name: unb64(j.name), target: unb64(j.target) };
  throw new Error(`unknown node type '${(j as { type: string }).type}'`);
}

export function pathInfoToJson(p: PathInfo): string {
  const o: Record<string, unknown> = {
    storePath: p.storePath,
    node: nodeToJson(p.node),
    narHash: p.narHash,
    narSize: p.narSize,
    references: p.references,
    signatures: p.signatures,
  };
  if (p.deriver !== undefined) o.deriver = p.deriver;
  if (p.ca !== undefined) o.ca = p.ca;
  if (p.registrationTime !== undefined) o.registrationTime = p.registrationTime;
  if (p.ultimate) o.ultimate = true;
  return JSON.stringify(o, null, 1) + "\n";
}

export function pathInfoFromJson(s: string, what: string): PathInfo {
  let o: any;
  try {
    o = JSON.parse(s);
  } catch (e) {
    throw new Error(`path info ${what} is corrupt: ${(e as Error).message}`);
  }
  if (typeof o?.storePath !== "string" || typeof o.narHash !== "string" || typeof o.narSize !== "number" || !o.node)
    throw new Error(`path info ${what} is corrupt: missing fields`);
  return {
    storePath: o.storePath,
    node: nodeFromJson(o.node),
    narHash: o.narHash,
    narSize: o.narSize,
    references: o.references ?? [],
    signatures: o.signatures ?? [],
    ...(o.deriver !== undefined ? { deriver: o.deriver } : {}),
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(typeof o.registrationTime === "number" ? { registrationTime: o.registrationTime } : {}),
    ...(o.ultimate === true ? { ultimate: true } : {}),
  };
}

/** The hash part of an absolute store path (validating it). */
export function hashPartOf(storePath: string): string {
  const base = storePath.slice(storePath.lastIndexOf("/") + 1);
  return StorePath.parse(base).hashPart;
}

export class JsonPathInfoService implements PathInfoService {
  constructor(readonly backend: DocumentBackend) {}

  async get(hashPart: string): Promise<PathInfo | null> {
    return this.checked(hashPart, await this.backend.read(hashPart));
  }

  getNow(hashPart: string): PathInfo | null | undefined {
    return this.backend.readNow ? this.checked(hashPart, this.backend.readNow(hashPart)) : undefined;
  }

  private checked(hashPart: string, s: string | null): PathInfo | null {
    if (s === null) return null;
    const info = pathInfoFromJson(s, hashPart);
    // a document under another path's key would answer for that path
    let own: string;
    try {
      own = hashPartOf(info.storePath);
    } catch (e) {
      throw new Error(`path info ${hashPart} is corrupt: ${(e as Error).message}`);
    }
    if (own !== hashPart) throw new Error(`path info ${hashPart} is corrupt: it is stored under '${hashPart}' but describes '${info.storePath}'`);
    return info;
  }

  async put(info: PathInfo): Promise<void> {
    validateNode(info.node);
    await this.backend.write(hashPartOf(info.storePath), pathInfoToJson(info));
  }

  async putAfter(info: PathInfo, after: Promise<unknown>[]): Promise<void> {
    validateNode(info.node);
    if (this.backend.writeAfter) return this.backend.writeAfter(hashPartOf(info.storePath), pathInfoToJson(info), after);
    await settleAll(after);
    await this.backend.write(hashPartOf(info.storePath), pathInfoToJson(info));
  }

  async delete(hashPart: string): Promise<void> {
    if (!this.backend.delete) throw new Error("this path info backend cannot delete documents");
    await this.backend.delete(hashPart);
  }

  async *list(): AsyncIterable<PathInfo> {
    for await (const k of this.backend.keys()) {
      const p = await this.get(k);
      if (p) yield p;
    }
  }
}
