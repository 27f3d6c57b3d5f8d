// Composing NixStores:
//   cache://?near=URL&far=URL        read-through cache: reads try `near`
//                                    first; paths read from `far` are written
//                                    back to `near`. Writes go to `far`.
//   priority://?stores=URL1,URL2,... the first store that has a path wins;
//                                    writes go to the first store.
//   config:///path/stores.toml|json  either of the above, nested at will:
//     store = { type = "priority", stores = [
//       "file:///var/cache/nix",
//       { type = "cache", near = "file:///tmp/near", far = "s3://bucket?region=eu-west-1" } ] }
// Nested URLs may keep their own query strings; only `&near=`/`&far=` and a
// comma followed by "scheme://" or "/" separate them. Percent-encode a nested
// URL if it needs anything else.
import { readFile } from "node:fs/promises";
import { parse as parseToml } from "smol-toml";
import type { NixPathInfo, NixStore } from "./types";
import { openStore, registerStoreScheme } from "./url";
import { SignatureChecking, isSignatureChecking } from "./binary-cache";

export class CacheStore implements NixStore, SignatureChecking {
  readonly storeDir: string;
  constructor(readonly url: string, readonly near: NixStore, readonly far: NixStore) {
    if (near.storeDir !== far.storeDir) throw new Error(`cache store: near and far have different store directories`);
    this.storeDir = far.storeDir;
  }

  setCheckSigs(on: boolean): void {
    for (const s of [this.near, this.far]) if (isSignatureChecking(s)) s.setCheckSigs(on);
  }

  async queryPathInfo(storePath: string): Promise<NixPathInfo | null> {
    return (await this.near.queryPathInfo(storePath)) ?? (await this.far.queryPathInfo(storePath));
  }

  async *narFromPath(storePath: string): AsyncIterable<Uint8Array> {
    if (!(await this.near.queryPathInfo(storePath))) {
      const info = await this.far.queryPathInfo(storePath);
      if (!info) throw new Error(`path '${storePath}' is not valid in '${this.url}'`);
      try {
        // write back first (streamed, verified by `near`), then serve from near
        await this.near.addToStore(info, this.far.narFromPath(storePath));
      } catch {
        // the cache could not take it: serve straight from far
        yield* this.far.narFromPath(storePath);
        return;
      }
    }
    yield* this.near.narFromPath(storePath);
  }

  addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void> {
    return this.far.addToStore(info, nar);
  }

  listPaths(): AsyncIterable<string> {
    return this.far.listPaths();
  }

  async close(): Promise<void> {
    await Promise.all([this.near.close(), this.far.close()]);
  }
}

export class PriorityStore implements NixStore, SignatureChecking {
  readonly storeDir: string;
  constructor(readonly url: string, readonly stores: NixStore[]) {
    if (stores.length === 0) throw new Error("priority store: no stores given");
    this.storeDir = stores[0].storeDir;
    if (stores.some((s) => s.storeDir !== this.storeDir)) throw new Error("priority store: the stores have different store directories");
  }

  setCheckSigs(on: boolean): void {
    for (const s of this.stores) if (isSignatureChecking(s)) s.setCheckSigs(on);
  }

  private async find(storePath: string): Promise<{ store: NixStore; info: NixPathInfo } | null> {
    for (const store of this.stores) {
      const info = await store.queryPathInfo(storePath);
      if (info) return { store, info };
    }
    return null;
  }

  async queryPathInfo(storePath: string): Promise<NixPathInfo | null> {
    return (await this.find(storePath))?.info ?? null;
  }

  async *narFromPath(storePath: string): AsyncIterable<Uint8Array> {
    const hit = await this.find(storePath);
    if (!hit) throw new Error(`path '${storePath}' is not valid in '${this.url}'`);
    yield* hit.store.narFromPath(storePath);
  }

  addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void> {
    return this.stores[0].addToStore(info, nar);
  }

  async *listPaths(): AsyncIterable<string> {
    const seen = new Set<string>();
    for (const s of this.stores) {
      for await (const p of s.listPaths()) {
        if (seen.has(p)) continue;
        seen.add(p);
        yield p;
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.close()));
  }
}

/** A store description in a config file: a URL, or a cache/priority table. */
export type StoreSpec = string | { url: string } | { type: "cache"; near: StoreSpec; far: StoreSpec } | { type: "priority"; stores: StoreSpec[] };

async function openAll(urls: StoreSpec[], storeDir: string): Promise<NixStore[]> {
  const opened: NixStore[] = [];
  try {
    for (const u of urls) opened.push(await openSpec(u, storeDir));
  } catch (e) {
    await Promise.allSettled(opened.map((s) => s.close()));
    throw e;
  }
  return opened;
}

export async function openSpec(spec: StoreSpec, storeDir: string, where = "store"): Promise<NixStore> {
  if (typeof spec === "string") return openStore(spec, { storeDir });
  if (typeof spec !== "object" || spec === null) throw new Error(`${where}: expected a URL or a table, got ${JSON.stringify(spec)}`);
  if ("url" in spec && typeof spec.url === "string") return openStore(spec.url, { storeDir });
  const t = (spec as { type?: string }).type;
  if (t === "cache") {
    const s = spec as { near: StoreSpec; far: StoreSpec };
    if (s.near === undefined || s.far === undefined) throw new Error(`${where}: a cache store needs 'near' and 'far'`);
    const [near, far] = await openAll([s.near, s.far], storeDir);
    return new CacheStore(`cache(${near.url}, ${far.url})`, near, far);
  }
  if (t === "priority") {
    const s = spec as { stores: StoreSpec[] };
    if (!Array.isArray(s.stores) || s.stores.length === 0) throw new Error(`${where}: a priority store needs a non-empty 'stores' list`);
    const stores = await openAll(s.stores, storeDir);
    return new PriorityStore(`priority(${stores.map((x) => x.url).join(", ")})`, stores);
  }
  throw new Error(`${where}: unknown store type '${t}' (expected 'cache' or 'priority', or a 'url')`);
}

function query(raw: string): string {
  const q = raw.indexOf("?");
  return q < 0 ? "" : raw.slice(q + 1);
}

function decodeNested(v: string): string {
  return v.includes("://") || v.startsWith("/") ? v : decodeURIComponent(v);
}

/** Splits "near=A&far=B" where A and B may contain '&' themselves. */
export function splitNamedUrls(q: string, names: string[]): Map<string, string> {
  const re = new RegExp(`(?:^|&)(${names.join("|")})=`, "g");
  const marks: { name: string; start: number; valueStart: number }[] = [];
  for (let m; (m = re.exec(q)); ) marks.push({ name: m[1], start: m.index, valueStart: m.index + m[0].length });
  const out = new Map<string, string>();
  if (marks.length === 0 || marks[0].start !== 0) {
    if (q !== "") throw new Error(`expected ${names.map((n) => `${n}=URL`).join("&")}, got '${q}'`);
  }
  marks.forEach((m, i) => out.set(m.name, decodeNested(q.slice(m.valueStart, i + 1 < marks.length ? marks[i + 1].start : q.length))));
  return out;
}

/** Splits "URL1,URL2" at commas followed by "scheme://" or "/". */
export function splitUrlList(s: string): string[] {
  return s.split(/,(?=[a-z][a-z0-9+.-]*:|\/)/).filter((x) => x !== "").map(decodeNested);
}

registerStoreScheme("cache", async (_url, raw, opts) => {
  const p = splitNamedUrls(query(raw), ["near", "far"]);
  if (!p.get("near") || !p.get("far")) throw new Error(`cache store URL '${raw}' needs near=URL&far=URL`);
  return openSpec({ type: "cache", near: p.get("near")!, far: p.get("far")! }, opts.storeDir);
});

registerStoreScheme("priority", async (_url, raw, opts) => {
  const p = splitNamedUrls(query(raw), ["stores"]);
  const stores = splitUrlList(p.get("stores") ?? "");
  if (stores.length === 0) throw new Error(`priority store URL '${raw}' needs stores=URL1,URL2,...`);
  return openSpec({ type: "priority", stores }, opts.storeDir);
});

registerStoreScheme("config", async (url, _raw, opts) => {
  const path = decodeURIComponent(url.pathname);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read store config '${path}': ${(e as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = (path.endsWith(".json") ? JSON.parse(text) : parseToml(text)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`store config '${path}': ${(e as Error).message}`);
  }
  if (!("store" in doc)) throw new Error(`store config '${path}' has no 'store' entry`);
  return openSpec(doc.store as StoreSpec, opts.storeDir, `store config '${path}'`);
});
