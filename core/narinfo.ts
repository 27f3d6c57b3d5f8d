// .narinfo files of Nix binary caches: parse, print, and the fingerprint
// that signatures cover.
import { Hash } from "./hash";
import { DEFAULT_STORE_DIR, StorePath } from "./store-path";

export interface NarInfo {
  /** Absolute store path. */
  storePath: string;
  url: string;
  compression: string;
  fileHash?: Hash;
  fileSize?: number;
  narHash: Hash;
  narSize: number;
  /** Basenames. */
  references: string[];
  /** Basename. */
  deriver?: string;
  system?: string;
  sigs: string[];
  ca?: string;
}

export class NarInfoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NarInfoError";
  }
}

function parseSize(v: string, line: number): number {
  if (!/^[0-9]+$/.test(v)) throw new NarInfoError(`narinfo line ${line}: '${v}' is not a size`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new NarInfoError(`narinfo line ${line}: size ${v} is too large`);
  return n;
}

/** Parses a .narinfo. `storeDir` is the store the cache serves (its nix-cache-info StoreDir). */
export function parseNarInfo(text: string, storeDir: string = DEFAULT_STORE_DIR): NarInfo {
  const fields = new Map<string, string>();
  const sigs: string[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    if (raw === "") return;
    const colon = raw.indexOf(": ");
    const key = colon < 0 ? raw.replace(/:$/, "") : raw.slice(0, colon);
    const value = colon < 0 ? "" : raw.slice(colon + 2);
    if (colon < 0 && !raw.endsWith(":")) throw new NarInfoError(`narinfo line ${i + 1} is malformed: '${raw.slice(0, 80)}'`);
    if (key === "Sig") sigs.push(value);
    else if (fields.has(key)) throw new NarInfoError(`narinfo has a duplicate '${key}' field`);
    else fields.set(key, value);
  });
  const need = (k: string) => {
    const v = fields.get(k);
    if (v === undefined || v === "") throw new NarInfoError(`narinfo is missing the '${k}' field`);
    return v;
  };
  const lineOf = (k: string) => lines.findIndex((l) => l.startsWith(k + ":")) + 1;
  const storePath = need("StorePath");
  try {
    StorePath.parseAbsolute(storePath, storeDir);
  } catch (e) {
    throw new NarInfoError(`narinfo StorePath: ${(e as Error).message}`);
  }
  const hashField = (k: string): Hash => {
    try {
      return Hash.parse(need(k));
    } catch (e) {
      if (e instanceof NarInfoError) throw e;
      throw new NarInfoError(`narinfo ${k}: ${(e as Error).message}`);
    }
  };
  const refs = (fields.get("References") ?? "").split(" ").filter((r) => r !== "");
  for (const r of refs) {
    try {
      StorePath.parse(r);
    } catch (e) {
      throw new NarInfoError(`narinfo References: ${(e as Error).message}`);
    }
  }
  const deriver = fields.get("Deriver");
  const ni: NarInfo = {
    storePath,
    url: need("URL"),
    compression: fields.get("Compression") || "bzip2", // Nix's default when absent
    narHash: hashField("NarHash"),
    narSize: parseSize(need("NarSize"), lineOf("NarSize")),
    references: refs,
    sigs,
  };
  if (fields.get("FileHash")) ni.fileHash = hashField("FileHash");
  if (fields.get("FileSize")) ni.fileSize = parseSize(fields.get("FileSize")!, lineOf("FileSize"));
  if (deriver && deriver !== "unknown-deriver") ni.deriver = deriver;
  if (fields.get("System")) ni.system = fields.get("System");
  if (fields.get("CA")) ni.ca = fields.get("CA");
  return ni;
}

/** Prints a .narinfo with the fields in the order Nix writes them. */
export function formatNarInfo(ni: NarInfo): string {
  let s = `StorePath: ${ni.storePath}\nURL: ${ni.url}\nCompression: ${ni.compression}\n`;
  if (ni.fileHash) s += `FileHash: ${ni.fileHash.format("nix32", true)}\n`;
  if (ni.fileSize !== undefined) s += `FileSize: ${ni.fileSize}\n`;
  s += `NarHash: ${ni.narHash.format("nix32", true)}\nNarSize: ${ni.narSize}\n`;
  s += `References: ${ni.references.join(" ")}\n`;
  if (ni.deriver) s += `Deriver: ${ni.deriver}\n`;
  if (ni.system) s += `System: ${ni.system}\n`;
  for (const sig of ni.sigs) s += `Sig: ${sig}\n`;
  if (ni.ca) s += `CA: ${ni.ca}\n`;
  return s;
}

/** What a store path signature signs: "1;path;narHash;narSize;refs". */
export function narInfoFingerprint(storeDir: string, storePath: string, narHash: Hash, narSize: number, references: readonly string[]): string {
  if (narHash.algo !== "sha256") throw new Error("fingerprints need a sha256 NAR hash");
  const abs = references.map((r) => (r.startsWith("/") ? r : `${storeDir}/${r}`));
  return `1;${storePath};${narHash.format("nix32", true)};${narSize};${[...abs].sort().join(",")}`;
}
