// Nix binary caches (file://, http(s)://, s3://): nix-cache-info,
// <hashpart>.narinfo and nar/<filehash>.nar[.xz|.zst|.bz2|...], over a small
// object-store backend. Reads verify signatures (trusted-public-keys), the
// narinfo's StorePath, the compressed file's hash and the NAR's hash and size.
// Writes stage the compressed NAR in a local file while hashing it, verify
// the NAR hash and size, upload the NAR and only then the narinfo.
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { Hash } from "../core/hash";
import { NarInfo, formatNarInfo, parseNarInfo } from "../core/narinfo";
import { PublicKey, SecretKey, parsePublicKey, parseSecretKey, signNarInfo, verifyNarInfoSignatures } from "../core/signing";
import { StorePath } from "../core/store-path";
import type { NixPathInfo, NixStore } from "./types";
import { Compression, compress, compressionExtension, decompress, parseCompression } from "./compression";
import { IntegrityError, collect, measureStream, verifyStream } from "./stream-util";

/** A local file holding a new object until it is committed under its key. */
export interface Staging {
  readonly path: string;
  commit(key: string, contentType: string): Promise<void>;
  discard(): Promise<void>;
}

/** The object store a binary cache lives in. */
export interface CacheBackend {
  /** Null when the backend can be written to, else why not (e.g. "writing to http binary caches"). */
  readonly readOnly: string | null;
  get(key: string): Promise<AsyncIterable<Uint8Array> | null>;
  exists(key: string): Promise<boolean>;
  /** Writes a small object atomically. */
  putText(key: string, text: string, contentType: string): Promise<void>;
  stage(): Promise<Staging>;
  /** Keys of the top-level objects (no "/" in them). */
  listTop(): AsyncIterable<string>;
  close?(): Promise<void>;
}

export class NotImplemented extends Error {
  constructor(what: string) {
    super(`not implemented: ${what}`);
    this.name = "NotImplementedError";
  }
}

/** Query parameters decoded like Nix does: '+' stays '+' (base64 keys contain it). */
export function storeParams(raw: string): Map<string, string> {
  const q = raw.indexOf("?");
  const out = new Map<string, string>();
  if (q < 0) return out;
  for (const part of raw.slice(q + 1).split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    out.set(k, decodeURIComponent(eq < 0 ? "" : part.slice(eq + 1)));
  }
  return out;
}

/** The URL without its query string (for messages and as the store's url). */
export function stripParams(raw: string): string {
  const q = raw.indexOf("?");
  return q < 0 ? raw : raw.slice(0, q);
}

export function parseBool(v: string | undefined, name: string, dflt: boolean): boolean {
  if (v === undefined || v === "") return dflt;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new Error(`store parameter '${name}' must be true or false, got '${v}'`);
}

/** Public keys from a space- or comma-separated list ("name:base64 ..."). */
export function parsePublicKeys(s: string): PublicKey[] {
  return s.split(/[\s,]+/).filter((k) => k !== "").map(parsePublicKey);
}

export interface BinaryCacheOptions {
  storeDir: string;
  compression: Compression;
  parallelCompression: boolean;
  compressionLevel?: number;
  secretKey?: SecretKey;
  trustedKeys: PublicKey[];
  checkSigs: boolean;
  /** Written into a new nix-cache-info. */
  priority?: number;
  wantMassQuery: boolean;
}

export async function binaryCacheOptions(raw: string, storeDir: string): Promise<BinaryCacheOptions> {
  const p = storeParams(raw);
  const known = new Set(["compression", "secret-key", "trusted-public-keys", "check-sigs", "parallel-compression", "compression-level", "priority", "want-mass-query", "store", "endpoint", "region", "profile", "scheme"]);
  for (const k of p.keys()) if (!known.has(k)) throw new Error(`unknown store parameter '${k}' in '${stripParams(raw)}'`);
  const opts: BinaryCacheOptions = {
    storeDir,
    compression: parseCompression(p.get("compression") ?? "xz"),
    parallelCompression: parseBool(p.get("parallel-compression"), "parallel-compression", false),
    trustedKeys: p.get("trusted-public-keys") ? parsePublicKeys(p.get("trusted-public-keys")!) : [],
    checkSigs: parseBool(p.get("check-sigs"), "check-sigs", true),
    wantMassQuery: parseBool(p.get("want-mass-query"), "want-mass-query", true),
  };
  if (p.get("compression-level")) opts.compressionLevel = Number(p.get("compression-level"));
  if (p.get("priority")) opts.priority = Number(p.get("priority"));
  const sk = p.get("secret-key");
  if (sk) {
    let text: string;
    try {
      text = await readFile(sk, "utf8");
    } catch (e) {
      throw new Error(`cannot read secret key file '${sk}': ${(e as Error).message}`);
    }
    opts.secretKey = parseSecretKey(text);
  }
  return opts;
}

/** Stores that check signatures on read and let `tvix copy --no-check-sigs` turn that off. */
export interface SignatureChecking {
  setCheckSigs(on: boolean): void;
}

export function isSignatureChecking(s: unknown): s is SignatureChecking {
  return typeof (s as SignatureChecking)?.setCheckSigs === "function";
}

export class BinaryCacheStore implements NixStore, SignatureChecking {
  readonly storeDir: string;
  private narInfos = new Map<string, NarInfo>();

  constructor(readonly url: string, private backend: CacheBackend, private opts: BinaryCacheOptions) {
    this.storeDir = opts.storeDir;
  }

  setCheckSigs(on: boolean): void {
    this.opts.checkSigs = on;
  }

  /** Reads nix-cache-info (creating it in a new writable cache) and checks its StoreDir. */
  async init(): Promise<this> {
    const info = await this.backend.get("nix-cache-info");
    if (!info) {
      if (this.backend.readOnly) throw new Error(`'${this.url}' is not a Nix binary cache (it has no nix-cache-info)`);
      let text = `StoreDir: ${this.storeDir}\n`;
      if (this.opts.wantMassQuery) text += "WantMassQuery: 1\n";
      if (this.opts.priority !== undefined) text += `Priority: ${this.opts.priority}\n`;
      await this.backend.putText("nix-cache-info", text, "text/x-nix-cache-info");
      return this;
    }
    const text = new TextDecoder().decode(await collect(info));
    for (const line of text.split("\n")) {
      const m = /^StoreDir:\s*(.*)$/.exec(line);
      if (m && m[1].trim() !== this.storeDir)
        throw new Error(`binary cache '${this.url}' is for Nix stores with prefix '${m[1].trim()}', not '${this.storeDir}'`);
    }
    return this;
  }

  private parsePath(storePath: string): StorePath {
    return StorePath.parseAbsolute(storePath, this.storeDir);
  }

  /** The verified narinfo of a path, or null. */
  async getNarInfo(storePath: string): Promise<NarInfo | null> {
    const cached = this.narInfos.get(storePath);
    if (cached) return cached;
    const sp = this.parsePath(storePath);
    const body = await this.backend.get(`${sp.hashPart}.narinfo`);
    if (!body) return null;
    const text = new TextDecoder().decode(await collect(body));
    let ni: NarInfo;
    try {
      ni = parseNarInfo(text, this.storeDir);
    } catch (e) {
      throw new Error(`invalid narinfo for '${storePath}' in '${this.url}': ${(e as Error).message}`);
    }
    if (ni.storePath !== storePath)
      throw new IntegrityError(`narinfo ${sp.hashPart}.narinfo in '${this.url}' describes '${ni.storePath}', not the requested '${storePath}'`);
    if (this.opts.checkSigs && this.opts.trustedKeys.length > 0 && verifyNarInfoSignatures(ni, this.opts.trustedKeys, this.storeDir) === 0)
      throw new IntegrityError(`path '${storePath}' in '${this.url}' has no valid signature by a trusted key (${ni.sigs.length} signature(s) present)`);
    this.narInfos.set(storePath, ni);
    return ni;
  }

  async queryPathInfo(storePath: string): Promise<NixPathInfo | null> {
    const ni = await this.getNarInfo(storePath);
    if (!ni) return null;
    const info: NixPathInfo = {
      storePath: ni.storePath,
      narHash: ni.narHash.format("nix32", true),
      narSize: ni.narSize,
      references: ni.references.map((r) => `${this.storeDir}/${r}`),
      signatures: [...ni.sigs],
    };
    if (ni.deriver) info.deriver = `${this.storeDir}/${ni.deriver}`;
    if (ni.ca) info.ca = ni.ca;
    return info;
  }

  async *narFromPath(storePath: string): AsyncIterable<Uint8Array> {
    const ni = await this.getNarInfo(storePath);
    if (!ni) throw new Error(`path '${storePath}' is not valid in '${this.url}'`);
    let file = await this.backend.get(ni.url);
    if (!file) throw new Error(`the NAR '${ni.url}' of '${storePath}' is missing from '${this.url}'`);
    const compression = parseCompression(ni.compression);
    if (compression === "none") {
      // the file is the NAR: one verification covers both
      if ((ni.fileHash && !ni.fileHash.equals(ni.narHash)) || (ni.fileSize !== undefined && ni.fileSize !== ni.narSize))
        throw new IntegrityError(`narinfo of '${storePath}' in '${this.url}' is uncompressed but its FileHash/FileSize differ from its NarHash/NarSize`);
      yield* verifyStream(file, { hash: ni.narHash, size: ni.narSize }, `NAR of '${storePath}' from '${this.url}'`);
      return;
    }
    if (ni.fileHash || ni.fileSize !== undefined)
      file = verifyStream(file, { hash: ni.fileHash, size: ni.fileSize }, `file '${ni.url}' of '${storePath}' in '${this.url}'`);
    const nar = decompress(compression, file);
    yield* verifyStream(nar, { hash: ni.narHash, size: ni.narSize }, `NAR of '${storePath}' from '${this.url}'`);
  }

  async addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.backend.readOnly) throw new NotImplemented(this.backend.readOnly);
    const sp = this.parsePath(info.storePath);
    const narHash = Hash.parse(info.narHash);
    if (narHash.algo !== "sha256") throw new Error(`NAR hash of '${info.storePath}' must be sha256, got ${narHash.algo}`);
    if (await this.backend.exists(`${sp.hashPart}.narinfo`)) return;
    const ext = compressionExtension(this.opts.compression);
    const staging = await this.backend.stage();
    let fileHash: Hash;
    let fileSize: number;
    try {
      const verified = verifyStream(nar, { hash: narHash, size: info.narSize }, `NAR of '${info.storePath}'`);
      if (this.opts.compression === "none") {
        // the file is the NAR, whose hash and size were just verified
        await pipeline(Readable.from(verified), createWriteStream(staging.path));
        fileHash = narHash;
        fileSize = info.narSize;
      } else {
        const compressed = compress(this.opts.compression, verified, { parallel: this.opts.parallelCompression, level: this.opts.compressionLevel });
        const m = measureStream(compressed);
        await pipeline(Readable.from(m.stream), createWriteStream(staging.path));
        ({ hash: fileHash, size: fileSize } = m.result());
      }
      const key = `nar/${fileHash.toNixBase32()}.nar${ext}`;
      if (await this.backend.exists(key)) await staging.discard();
      else await staging.commit(key, "application/x-nix-nar");
      const ni: NarInfo = {
        storePath: info.storePath,
        url: key,
        compression: this.opts.compression,
        fileHash,
        fileSize,
        narHash,
        narSize: info.narSize,
        references: info.references.map((r) => this.baseName(r)).sort(),
        sigs: [...info.signatures],
      };
      if (info.deriver) ni.deriver = this.baseName(info.deriver);
      if (info.ca) ni.ca = info.ca;
      if (this.opts.secretKey) signNarInfo(ni, this.opts.secretKey, this.storeDir);
      await this.backend.putText(`${sp.hashPart}.narinfo`, formatNarInfo(ni), "text/x-nix-narinfo");
      this.narInfos.set(info.storePath, ni);
    } catch (e) {
      await staging.discard().catch(() => {});
      throw e;
    }
  }

  private baseName(p: string): string {
    if (!p.startsWith("/")) return StorePath.parse(p).toString();
    return this.parsePath(p).toString();
  }

  async *listPaths(): AsyncIterable<string> {
    const hashParts: string[] = [];
    for await (const key of this.backend.listTop()) if (/^[0-9a-df-np-sv-z]{32}\.narinfo$/.test(key)) hashParts.push(key.slice(0, 32));
    hashParts.sort();
    for (const h of hashParts) {
      const body = await this.backend.get(`${h}.narinfo`);
      if (!body) continue;
      const ni = parseNarInfo(new TextDecoder().decode(await collect(body)), this.storeDir);
      yield ni.storePath;
    }
  }

  async close(): Promise<void> {
    await this.backend.close?.();
  }
}
