// builtins.parseFlakeRef and builtins.flakeRefToString: flake references
// as Nix 2.26 reads and writes them (its libflake and libfetchers), without
// fetching anything. A reference is a flake ID (`nixpkgs/nixos-23.05`), a
// URL (`github:`, `gitlab:`, `sourcehut:`, `git+https:`, `path:`, `hg+`,
// tarballs) or an absolute path; its attributes are the fetcher's input
// attributes plus `dir`.
import type { Pos } from "../ast";
import { EvalError, Lazy, NixAttrs, Thunk, Value, force, forceAttrs, forceString, mkInt, showType } from "../value";
import type { Definer } from "./registry";
import { Hash } from "../../core/hash";
import { decodeBytes } from "../utf8";

type AttrValue = string | bigint | boolean;
/** Input attributes, by name (Nix keeps them in a sorted map). */
type Attrs = Map<string, AttrValue>;

/** A reference that is not a URL of any known shape: Nix then tries it as a path. */
class BadURL extends Error {}

export function register(def: Definer): void {
  def("parseFlakeRef", 1, ([s], pos) => {
    const ref = forceString(s, pos);
    return attrsValue(fail(pos, () => parseFlakeRef(ref)));
  });
  def("flakeRefToString", 1, ([a], pos) => {
    const set = forceAttrs(a, pos);
    const attrs: Attrs = new Map();
    for (let i = 0; i < set.names.length; i++) {
      // Nix 2.26 takes the values as they are, without evaluating them
      const l: Lazy = set.values[i];
      const v = l instanceof Thunk && l.code !== null ? undefined : force(l);
      if (typeof v === "string" || typeof v === "boolean") attrs.set(set.names[i], v);
      else if (typeof v === "number" || typeof v === "bigint") attrs.set(set.names[i], BigInt(v));
      else
        throw new EvalError(
          `flake reference attribute sets may only contain integers, Booleans, and strings, but attribute '${set.names[i]}' is ${v === undefined ? "a thunk" : showType(v)}`,
          pos,
        );
    }
    return fail(pos, () => flakeRefToString(attrs));
  });
}

/** Runs `f`, turning its errors into evaluation errors at `pos`. */
function fail<T>(pos: Pos | null, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EvalError) throw e;
    if (e instanceof Error && !(e instanceof RangeError)) throw new EvalError(e.message, pos);
    throw e;
  }
}

function attrsValue(attrs: Attrs): Value {
  const m = new Map<string, Lazy>();
  for (const [k, v] of attrs) m.set(k, typeof v === "bigint" ? mkInt(v) : v);
  return NixAttrs.fromMap(m);
}

// ---------------------------------------------------------------- URLs

interface ParsedURL {
  scheme: string;
  /** undefined: no `//` part */
  authority?: string;
  /** percent-decoded */
  path: string;
  query: Map<string, string>;
  fragment: string;
}

const UNRESERVED = "A-Za-z0-9\\-._~";
const PCT = "%[0-9A-Fa-f]{2}";
const SUB_DELIMS = "!$&'()*+,;=";
const PCHAR = `(?:[${UNRESERVED}${SUB_DELIMS}:@]|${PCT})`;
const URL_RE = new RegExp(
  `^([a-z][a-z0-9+.-]*):(?:\\/\\/((?:[${UNRESERVED}${SUB_DELIMS}:@\\[\\]]|${PCT})*)((?:\\/${PCHAR}*)*)|(\\/?(?:${PCHAR}+(?:\\/${PCHAR}*)*)?))(?:\\?((?:${PCHAR}|[/?])*))?(?:#((?:${PCHAR}|[/? "^])*))?$`,
);

/** Nix's parseURL. */
function parseURL(url: string): ParsedURL {
  const m = URL_RE.exec(url);
  if (!m) throw new BadURL(`'${url}' is not a valid URL`);
  return {
    scheme: m[1],
    authority: m[2],
    path: percentDecode(m[2] !== undefined ? m[3] : m[4]),
    query: decodeQuery(m[5] ?? ""),
    fragment: percentDecode(m[6] ?? ""),
  };
}

function percentDecode(s: string): string {
  if (!s.includes("%")) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s);
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x25 && i + 2 < raw.length && /^[0-9A-Fa-f]{2}$/.test(String.fromCharCode(raw[i + 1], raw[i + 2]))) {
      bytes.push(parseInt(String.fromCharCode(raw[i + 1], raw[i + 2]), 16));
      i += 2;
    } else bytes.push(raw[i]);
  }
  return decodeBytes(Uint8Array.from(bytes));
}

function decodeQuery(q: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of q.split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const k = percentDecode(part.slice(0, eq));
    if (!m.has(k)) m.set(k, percentDecode(part.slice(eq + 1))); // the first one counts
  }
  return m;
}

/** Percent-encodes all but unreserved characters and those in `keep`. */
function percentEncode(s: string, keep = ""): string {
  let out = "";
  for (const b of Buffer.from(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (b < 0x80 && keep.includes(c))) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function urlToString(u: ParsedURL): string {
  let s = `${u.scheme}:${u.authority !== undefined ? "//" + u.authority : ""}${percentEncode(u.path, "/")}`;
  if (u.query.size) s += "?" + [...sortedEntries(u.query)].map(([k, v]) => `${percentEncode(k)}=${percentEncode(v, "/")}`).join("&");
  if (u.fragment) s += "#" + percentEncode(u.fragment);
  return s;
}

function sortedEntries<V>(m: Map<string, V>): [string, V][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------- parsing

const FLAKE_ID = "[a-zA-Z][a-zA-Z0-9_-]*";
const REF = "[a-zA-Z0-9@][a-zA-Z0-9_.\\/@+-]*";
const REV = "[0-9a-fA-F]{40}";
const FLAKE_ID_RE = new RegExp(`^${FLAKE_ID}$`);
const REF_RE = new RegExp(`^${REF}$`);
const REV_RE = new RegExp(`^${REV}$`);
const FLAKE_ID_REF_RE = new RegExp(`^((${FLAKE_ID})(?:\\/(?:(${REV})|(?:(${REF})(?:\\/(${REV}))?)))?)(?:#((?:${PCHAR}|[/? "^])*))?$`);
const HOST_RE = /^[a-zA-Z0-9.-]*$/;
// git check-ref-format's rules, as Nix checks branch and tag names
const BAD_GIT_REF = /\/\/|^[./]|\/\.|\.\.|[\x00-\x20\x7f:?^~[]|\\|\*|\.lock$|\.lock\/|@\{|[/.]$|^@$|^$/;

/** The attributes of a flake reference (Nix's parseFlakeRef, no base directory, the flake itself may be missing). */
export function parseFlakeRef(url: string): Attrs {
  const { attrs, fragment } = parseWithFragment(url);
  if (fragment !== "") throw new Error(`unexpected fragment '${fragment}' in flake reference '${url}'`);
  return attrs;
}

function parseWithFragment(url: string): { attrs: Attrs; fragment: string } {
  const id = FLAKE_ID_REF_RE.exec(url);
  if (id) {
    const parsed: ParsedURL = { scheme: "flake", authority: "", path: id[1], query: new Map(), fragment: "" };
    return { attrs: inputFromURL(parsed), fragment: percentDecode(id[6] ?? "") };
  }
  try {
    return fromParsedURL(parseURL(url));
  } catch (e) {
    if (!(e instanceof BadURL)) throw e;
  }
  // a path: absolute, as there is no directory to resolve it against
  const end = url.search(/[#?]/);
  const path = end < 0 ? url : url.slice(0, end);
  let fragment = "";
  let query = new Map<string, string>();
  if (end >= 0) {
    const hash = url.indexOf("#", end);
    if (hash >= 0) fragment = percentDecode(url.slice(hash + 1));
    if (url[end] === "?") query = decodeQuery(url.slice(end + 1, hash < 0 ? undefined : hash));
  }
  if (!path.startsWith("/")) throw new Error(`flake reference '${url}' is not an absolute path`);
  return fromParsedURL({ scheme: "path", authority: "", path, query, fragment });
}

function fromParsedURL(u: ParsedURL): { attrs: Attrs; fragment: string } {
  const dir = u.query.get("dir") ?? "";
  u.query.delete("dir");
  const fragment = u.fragment;
  u.fragment = "";
  const attrs = inputFromURL(u);
  if (dir !== "") attrs.set("dir", dir);
  return { attrs, fragment };
}

/** Nix's Input::fromURL: the input scheme that takes the URL, and its attributes. */
function inputFromURL(u: ParsedURL): Attrs {
  const s = u.scheme;
  if (s === "github" || s === "gitlab" || s === "sourcehut") return forgeFromURL(u);
  if (s === "git" || s === "git+http" || s === "git+https" || s === "git+ssh" || s === "git+file") return gitFromURL(u);
  if (s === "hg+http" || s === "hg+https" || s === "hg+ssh" || s === "hg+file") return hgFromURL(u);
  if (s === "path") return pathFromURL(u);
  if (s === "flake") return indirectFromURL(u);
  const m = /^(?:(tarball|file)\+)?(file|http|https)$/.exec(s);
  if (m) return archiveFromURL(u, m[1] ?? "tarball", m[2]);
  throw new Error(`input '${urlToString(u)}' is unsupported`);
}

/** A commit hash as Nix's Hash::parseAny reads a SHA-1 (hex, base-32, base-64 or SRI), in hex. */
function gitRev(s: string): string {
  return Hash.parse(s, "sha1").toBase16();
}

function forgeFromURL(u: ParsedURL): Attrs {
  const path = u.path.split("/").filter((p) => p !== "");
  let rev: string | undefined;
  let ref: string | undefined;
  let host: string | undefined;
  let narHash: string | undefined;
  if (path.length === 3) {
    if (REV_RE.test(path[2])) rev = gitRev(path[2]);
    else if (REF_RE.test(path[2])) ref = path[2];
    else throw new BadURL(`in URL '${urlToString(u)}', '${path[2]}' is not a commit hash or branch/tag name`);
  } else if (path.length > 3) {
    const rs = path.slice(2).join("/");
    if (!REF_RE.test(rs)) throw new BadURL(`in URL '${urlToString(u)}', '${rs}' is not a branch/tag name`);
    ref = rs;
  } else if (path.length < 2) throw new BadURL(`URL '${urlToString(u)}' is invalid`);
  for (const [name, value] of sortedEntries(u.query)) {
    if (name === "rev") {
      if (rev !== undefined) throw new BadURL(`URL '${urlToString(u)}' contains multiple commit hashes`);
      rev = gitRev(value);
    } else if (name === "ref") {
      if (!REF_RE.test(value)) throw new BadURL(`URL '${urlToString(u)}' contains an invalid branch/tag name`);
      if (ref !== undefined) throw new BadURL(`URL '${urlToString(u)}' contains multiple branch/tag names`);
      ref = value;
    } else if (name === "host") {
      if (!HOST_RE.test(value)) throw new BadURL(`URL '${urlToString(u)}' contains an invalid instance host`);
      host = value;
    } else if (name === "narHash") narHash = value;
    // other parameters are ignored, as in Nix
  }
  if (ref !== undefined && rev !== undefined) throw new BadURL(`URL '${urlToString(u)}' contains both a commit hash and a branch/tag name ${ref} ${rev}`);
  const attrs: Attrs = new Map([["type", u.scheme], ["owner", path[0]], ["repo", path[1]]]);
  if (rev !== undefined) attrs.set("rev", rev);
  if (ref !== undefined) attrs.set("ref", ref);
  if (host !== undefined) attrs.set("host", host);
  if (narHash !== undefined) attrs.set("narHash", narHash);
  return attrs;
}

const GIT_STRING_PARAMS = new Set(["rev", "ref", "keytype", "publicKey", "publicKeys"]);
const GIT_BOOL_PARAMS = new Set(["shallow", "submodules", "exportIgnore", "allRefs", "verifyCommit"]);

function gitFromURL(u: ParsedURL): Attrs {
  const url: ParsedURL = { ...u, scheme: u.scheme === "git" ? "git" : u.scheme.slice(4), query: new Map() };
  const attrs: Attrs = new Map([["type", "git"]]);
  for (const [name, value] of u.query) {
    if (GIT_STRING_PARAMS.has(name)) attrs.set(name, value);
    else if (GIT_BOOL_PARAMS.has(name)) attrs.set(name, value === "1");
    else url.query.set(name, value);
  }
  attrs.set("url", urlToString(url));
  checkGitAttrs(attrs, true);
  return attrs;
}

function checkGitAttrs(attrs: Attrs, fromURL: boolean): void {
  for (const k of ["keytype", "publicKey", "publicKeys", "verifyCommit"])
    if (attrs.has(k)) throw new Error("experimental Nix feature 'verified-fetches' is disabled; add '--extra-experimental-features verified-fetches' to enable it");
  const ref = attrs.get("ref");
  if (typeof ref === "string" && BAD_GIT_REF.test(ref)) {
    const msg = `invalid Git branch/tag name '${ref}'`;
    throw fromURL ? new BadURL(msg) : new Error(msg);
  }
}

function hgFromURL(u: ParsedURL): Attrs {
  const url: ParsedURL = { ...u, scheme: u.scheme.slice(3), query: new Map() };
  const attrs: Attrs = new Map([["type", "hg"]]);
  for (const [name, value] of u.query) {
    if (name === "rev" || name === "ref") attrs.set(name, value);
    else url.query.set(name, value);
  }
  attrs.set("url", urlToString(url));
  return attrs;
}

function pathFromURL(u: ParsedURL): Attrs {
  const attrs: Attrs = new Map([["type", "path"], ["path", u.path]]);
  for (const [name, value] of sortedEntries(u.query)) {
    if (name === "rev" || name === "narHash") attrs.set(name, value);
    else if (name === "revCount" || name === "lastModified") {
      if (!/^[0-9]+$/.test(value)) throw new Error(`path URL '${urlToString(u)}' has invalid parameter '${name}'`);
      attrs.set(name, BigInt(value));
    } else throw new Error(`path URL '${urlToString(u)}' has unsupported parameter '${name}'`);
  }
  return attrs;
}

function indirectFromURL(u: ParsedURL): Attrs {
  const path = u.path.split("/").filter((p) => p !== "");
  const shown = () => urlToString(u);
  let ref: string | undefined;
  let rev: string | undefined;
  if (path.length === 1) {
    // only the ID
  } else if (path.length === 2) {
    if (REV_RE.test(path[1])) rev = gitRev(path[1]);
    else if (REF_RE.test(path[1])) ref = path[1];
    else throw new BadURL(`in flake URL '${shown()}', '${path[1]}' is not a commit hash or branch/tag name`);
  } else if (path.length === 3) {
    if (!REF_RE.test(path[1])) throw new BadURL(`in flake URL '${shown()}', '${path[1]}' is not a branch/tag name`);
    ref = path[1];
    if (!REV_RE.test(path[2])) throw new BadURL(`in flake URL '${shown()}', '${path[2]}' is not a commit hash`);
    rev = gitRev(path[2]);
  } else throw new BadURL(`GitHub URL '${shown()}' is invalid`);
  if (!FLAKE_ID_RE.test(path[0])) throw new BadURL(`'${path[0]}' is not a valid flake ID`);
  const attrs: Attrs = new Map([["type", "indirect"], ["id", path[0]]]);
  if (ref !== undefined) attrs.set("ref", ref);
  if (rev !== undefined) attrs.set("rev", rev);
  return attrs;
}

const ARCHIVE_PARAMS = new Set(["narHash", "name", "unpack", "rev", "revCount", "lastModified"]);

function archiveFromURL(u: ParsedURL, type: string, transport: string): Attrs {
  const url: ParsedURL = { ...u, scheme: transport, query: new Map() };
  const attrs: Attrs = new Map([["type", type]]);
  for (const [name, value] of u.query) {
    if (!ARCHIVE_PARAMS.has(name)) url.query.set(name, value);
    else if (name === "revCount" || name === "lastModified") {
      if (/^[0-9]+$/.test(value)) attrs.set(name, BigInt(value));
    } else if (name === "narHash" || name === "rev") attrs.set(name, value);
  }
  attrs.set("url", urlToString(url));
  return attrs;
}

// ---------------------------------------------------------------- writing

const ALLOWED: Record<string, string[]> = {
  github: ["owner", "repo", "ref", "rev", "narHash", "lastModified", "host"],
  gitlab: ["owner", "repo", "ref", "rev", "narHash", "lastModified", "host"],
  sourcehut: ["owner", "repo", "ref", "rev", "narHash", "lastModified", "host"],
  git: ["url", "ref", "rev", "shallow", "submodules", "exportIgnore", "lastModified", "revCount", "narHash", "allRefs", "name", "dirtyRev", "dirtyShortRev", "verifyCommit", "keytype", "publicKey", "publicKeys"],
  hg: ["url", "ref", "rev", "revCount", "narHash", "name"],
  path: ["path", "rev", "revCount", "lastModified", "narHash"],
  indirect: ["id", "ref", "rev", "narHash"],
  tarball: ["url", "narHash", "name", "unpack", "rev", "revCount", "lastModified"],
  file: ["url", "narHash", "name", "unpack", "rev", "revCount", "lastModified"],
};

/** Nix's attrsToJSON, for error messages. */
function attrsJSON(attrs: Attrs): string {
  return "{" + sortedEntries(attrs).map(([k, v]) => `${JSON.stringify(k)}:${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join(",") + "}";
}

function strAttr(attrs: Attrs, name: string, required: true): string;
function strAttr(attrs: Attrs, name: string, required?: false): string | undefined;
function strAttr(attrs: Attrs, name: string, required = false): string | undefined {
  const v = attrs.get(name);
  if (v === undefined) {
    if (required) throw new Error(`input attribute '${name}' is missing`);
    return undefined;
  }
  if (typeof v !== "string") throw new Error(`input attribute '${name}' is not a string ${attrsJSON(attrs)}`);
  return v;
}

function intAttr(attrs: Attrs, name: string): bigint | undefined {
  const v = attrs.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== "bigint") throw new Error(`input attribute '${name}' is not an integer`);
  return v;
}

/** A narHash attribute as SRI (Nix's getNarHash). */
function narHashSRI(attrs: Attrs): string | undefined {
  const s = strAttr(attrs, "narHash");
  if (s === undefined) return undefined;
  if (s === "") return new Hash("sha256", new Uint8Array(32)).toSRI(); // (an empty one is the zero hash)
  const dash = s.indexOf("-");
  if (dash < 0) throw new Error(`hash '${s}' is not SRI`);
  const algo = s.slice(0, dash);
  if (!["md5", "sha1", "sha256", "sha512"].includes(algo)) throw new Error(`unknown hash algorithm '${algo}', expect 'md5', 'sha1', 'sha256', or 'sha512'`);
  let h: Hash;
  try {
    h = Hash.parse(s);
  } catch {
    throw new Error(`invalid SRI hash '${s.slice(dash + 1)}'`);
  }
  if (h.algo !== "sha256") throw new Error("narHash must use SHA-256");
  return h.toSRI();
}

/** The URL of a flake reference given by its attributes (Nix's FlakeRef::fromAttrs, then to_string). */
export function flakeRefToString(all: Attrs): string {
  const dir = strAttr(all, "dir") ?? "";
  const attrs = new Map(all);
  attrs.delete("dir");
  const type = attrs.get("type");
  if (type === undefined) throw new Error("'type' attribute to specify input scheme is required but not provided");
  if (typeof type !== "string") throw new Error(`input attribute 'type' is not a string ${attrsJSON(attrs)}`);
  const allowed = ALLOWED[type];
  if (allowed === undefined) throw new Error(`cannot show unsupported input '${attrsJSON(attrs)}'`);
  for (const name of sortedEntries(attrs).map(([k]) => k))
    if (name !== "type" && !allowed.includes(name)) throw new Error(`input attribute '${name}' not supported by scheme '${type}'`);
  const url = toURL(type, attrs);
  if (dir !== "" && !url.query.has("dir")) url.query.set("dir", dir);
  return urlToString(url);
}

function toURL(type: string, attrs: Attrs): ParsedURL {
  const rev = () => {
    const r = strAttr(attrs, "rev");
    return r === undefined ? undefined : gitRev(r);
  };
  switch (type) {
    case "github":
    case "gitlab":
    case "sourcehut": {
      const owner = strAttr(attrs, "owner", true);
      const repo = strAttr(attrs, "repo", true);
      checkCommon(attrs);
      const ref = strAttr(attrs, "ref");
      const r = rev();
      // (Nix 2.26 aborts on an assertion here)
      if (ref !== undefined && r !== undefined) throw new Error(`cannot show a ${type} input with both a branch/tag name and a commit hash ${attrsJSON(attrs)}`);
      let path = `${owner}/${repo}`;
      if (ref !== undefined) path += "/" + ref;
      if (r !== undefined) path += "/" + r;
      const query = new Map<string, string>();
      const nar = narHashSRI(attrs);
      if (nar !== undefined) query.set("narHash", nar);
      return { scheme: type, path, query, fragment: "" };
    }
    case "git": {
      const u = strAttr(attrs, "url", true);
      checkCommon(attrs);
      checkGitAttrs(attrs, false);
      const url = parseURLOrPath(u);
      if (url.scheme !== "git") url.scheme = "git+" + url.scheme;
      const r = rev();
      if (r !== undefined) url.query.set("rev", r);
      const ref = strAttr(attrs, "ref");
      if (ref !== undefined) url.query.set("ref", ref);
      for (const k of ["shallow", "submodules", "exportIgnore"]) if (attrs.get(k) === true) url.query.set(k, "1");
      return url;
    }
    case "hg": {
      const url = parseURL(strAttr(attrs, "url", true));
      checkCommon(attrs);
      url.scheme = "hg+" + url.scheme;
      const r = rev();
      if (r !== undefined) url.query.set("rev", r);
      const ref = strAttr(attrs, "ref");
      if (ref !== undefined) url.query.set("ref", ref);
      return url;
    }
    case "path": {
      const path = strAttr(attrs, "path", true);
      checkCommon(attrs);
      const query = new Map<string, string>();
      for (const [k, v] of attrs) if (k !== "type" && k !== "path") query.set(k, String(v));
      return { scheme: "path", path, query, fragment: "" };
    }
    case "indirect": {
      const id = strAttr(attrs, "id", true);
      if (!FLAKE_ID_RE.test(id)) throw new Error(`'${id}' is not a valid flake ID`);
      checkCommon(attrs);
      let path = id;
      const ref = strAttr(attrs, "ref");
      if (ref !== undefined) path += "/" + ref;
      const r = rev();
      if (r !== undefined) path += "/" + r;
      return { scheme: "flake", path, query: new Map(), fragment: "" };
    }
    default: {
      // tarball, file
      const url = parseURL(strAttr(attrs, "url", true));
      checkCommon(attrs);
      const nar = narHashSRI(attrs);
      if (nar !== undefined) url.query.set("narHash", nar);
      return url;
    }
  }
}

/** The attributes every input has checked (Nix's fixupInput). */
function checkCommon(attrs: Attrs): void {
  strAttr(attrs, "ref");
  intAttr(attrs, "revCount");
  intAttr(attrs, "lastModified");
}

/** A git input's url: a URL, or a path meaning a file:// URL. */
function parseURLOrPath(s: string): ParsedURL {
  try {
    return parseURL(s);
  } catch (e) {
    if (!(e instanceof BadURL)) throw e;
    return { scheme: "file", authority: "", path: s, query: new Map(), fragment: "" };
  }
}
