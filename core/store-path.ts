// Store paths: "<storeDir>/<32 nix32 chars>-<name>", and the ways Nix derives
// the 20-byte digest from content (makeStorePath and friends).
import { Hash, compressHash, hashBytes } from "./hash";
import { decodeNixBase32, encodeNixBase32 } from "./nixbase32";

export const DEFAULT_STORE_DIR = "/nix/store";
export const STORE_PATH_HASH_CHARS = 32;
const MAX_NAME_LENGTH = 211;

export class BadStorePath extends Error {}

/** Nix 2.26's checkName. */
export function validateStorePathName(name: string): void {
  if (name.length === 0) throw new BadStorePath("name must not be empty");
  if (name.length > MAX_NAME_LENGTH) throw new BadStorePath(`name '${name}' must be no longer than ${MAX_NAME_LENGTH} characters`);
  if (name[0] === ".") {
    // "." and ".." are not names, nor may they be the first dash-separated part
    if (name.length === 1 || (name[1] === "." && name.length === 2)) throw new BadStorePath(`name '${name}' is not valid`);
    if (name[1] === "-") throw new BadStorePath(`name '${name}' is not valid: first dash-separated component must not be '.'`);
    if (name[1] === "." && name[2] === "-") throw new BadStorePath(`name '${name}' is not valid: first dash-separated component must not be '..'`);
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok =
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
      c === 43 /* + */ || c === 45 /* - */ || c === 46 /* . */ || c === 95 /* _ */ || c === 63 /* ? */ || c === 61; /* = */
    if (!ok) throw new BadStorePath(`name '${name}' contains illegal character '${name[i]}'`);
  }
}

export class StorePath {
  readonly digest: Uint8Array;
  readonly name: string;

  /** The hash part, once known (parsed, or encoded once). */
  private hashPartText: string | undefined;

  constructor(digest: Uint8Array, name: string, hashPart?: string) {
    if (digest.length !== 20) throw new BadStorePath(`store path digest must be 20 bytes, got ${digest.length}`);
    validateStorePathName(name);
    this.digest = digest;
    this.name = name;
    this.hashPartText = hashPart;
  }

  get hashPart(): string {
    return (this.hashPartText ??= encodeNixBase32(this.digest));
  }

  /** The basename "<hashPart>-<name>". */
  toString(): string {
    return `${this.hashPart}-${this.name}`;
  }

  toAbsolute(storeDir: string = DEFAULT_STORE_DIR): string {
    return `${storeDir}/${this.toString()}`;
  }

  equals(o: StorePath): boolean {
    return this.name === o.name && Buffer.compare(this.digest, o.digest) === 0;
  }

  /** Parses a basename "<hashPart>-<name>". */
  static parse(basename: string): StorePath {
    if (basename.length < STORE_PATH_HASH_CHARS + 2 || basename[STORE_PATH_HASH_CHARS] !== "-")
      throw new BadStorePath(`path '${basename}' is not a valid store path basename`);
    let digest: Uint8Array;
    try {
      digest = decodeNixBase32(basename.slice(0, STORE_PATH_HASH_CHARS));
    } catch {
      throw new BadStorePath(`path '${basename}' has an invalid hash part`);
    }
    // (20 bytes are exactly 32 characters: the text decoded is the one encoding)
    return new StorePath(digest, basename.slice(STORE_PATH_HASH_CHARS + 1), basename.slice(0, STORE_PATH_HASH_CHARS));
  }

  /** Parses "<storeDir>/<basename>", rejecting paths not directly in storeDir. */
  static parseAbsolute(path: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
    const prefix = storeDir.endsWith("/") ? storeDir : storeDir + "/";
    if (!path.startsWith(prefix)) throw new BadStorePath(`path '${path}' is not in the Nix store`);
    const base = path.slice(prefix.length);
    if (base.includes("/")) throw new BadStorePath(`path '${path}' is not a store path (it is inside one)`);
    return StorePath.parse(base);
  }
}

/** True if `path` is of the form <storeDir>/<valid basename>. */
export function isStorePath(path: string, storeDir: string = DEFAULT_STORE_DIR): boolean {
  try {
    StorePath.parseAbsolute(path, storeDir);
    return true;
  } catch {
    return false;
  }
}

/** Nix's makeStorePath: the digest of "type:algo:base16:storeDir:name". */
export function makeStorePath(type: string, innerHash: Hash, name: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
  const s = `${type}:${innerHash.algo}:${innerHash.toBase16()}:${storeDir}:${name}`;
  return new StorePath(compressHash(hashBytes("sha256", s).digest, 20), name);
}

/** The type string with references appended, as Nix's makeType. */
function typeWithReferences(type: string, references: readonly string[], selfReference = false): string {
  let t = type;
  for (const r of [...references].sort()) t += ":" + r;
  if (selfReference) t += ":self";
  return t;
}

/** Paths of `builtins.toFile` and .drv files: "text" + references. */
export function makeTextPath(name: string, contentHash: Hash, references: readonly string[], storeDir: string = DEFAULT_STORE_DIR): StorePath {
  if (contentHash.algo !== "sha256") throw new Error("text paths need a sha256 content hash");
  return makeStorePath(typeWithReferences("text", references), contentHash, name, storeDir);
}

/**
 * Fixed-output paths exactly as Nix's makeFixedOutputPath: recursive sha256
 * gives a "source" path (which may have references); anything else the
 * "output:out" path of the hash of "fixed:out:[r:]algo:base16:".
 */
export function makeFixedOutputPath(
  name: string,
  hash: Hash,
  recursive: boolean,
  references: readonly string[] = [],
  storeDir: string = DEFAULT_STORE_DIR,
  selfReference = false,
): StorePath {
  if (recursive && hash.algo === "sha256") {
    return makeStorePath(typeWithReferences("source", references, selfReference), hash, name, storeDir);
  }
  if (references.length > 0 || selfReference) throw new Error(`fixed-output path '${name}' cannot have references unless it is a recursive sha256 path`);
  const inner = hashBytes("sha256", `fixed:out:${recursive ? "r:" : ""}${hash.algo}:${hash.toBase16()}:`);
  return makeStorePath("output:out", inner, name, storeDir);
}

/** The output path of an input-addressed derivation. */
export function makeOutputPath(outputName: string, drvHashModulo: Hash, drvName: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
  const name = outputName === "out" ? drvName : `${drvName}-${outputName}`;
  return makeStorePath(`output:${outputName}`, drvHashModulo, name, storeDir);
}
