// Imports, search paths, environment, hashing and other builtins.
import type { Pos } from "../ast";
import { EvalError, NixPath, Value, force, forceAttrs, forceList, forceString, forceStringValue, strValue, ctxOf, mkString, Lazy } from "../value";
import type { Definer } from "./registry";
import { searchPathMiss, type EvalState } from "../state";
import { coerceToString, AS_TEXT } from "../coerce";
import { Hash, hashBytes, parseHashAlgo, HashEncoding } from "../../core/hash";
import { encodeNixBase32 } from "../../core/nixbase32";
import { describeIOError } from "../io";
import { passFatal } from "../limits";
import { canonPath } from "../paths";
import { RestrictedPathError } from "../restricted-io";
import { encodeBytes, hasRawBytes } from "../utf8";

/** A path argument: a path value or an absolute path string. */
export function realisePath(state: EvalState, l: Lazy, pos: Pos | null): string {
  const v = force(l);
  if (v instanceof NixPath) return v.path;
  const sv = coerceToString(state, v, pos, AS_TEXT);
  const s = strValue(sv);
  if (!s.startsWith("/")) throw new EvalError(`string '${s}' doesn't represent an absolute path`, pos);
  // pure/restricted evaluation may read the store path a string's context names (as Nix's realiseContext)
  if (typeof sv !== "string" && sv.ctx.size > 0 && state.io.allowPath) {
    const p = canonPath(s);
    const dir = state.options.storeDir + "/";
    if (p.startsWith(dir) && p.length > dir.length) {
      const slash = p.indexOf("/", dir.length);
      state.io.allowPath(slash < 0 ? p : p.slice(0, slash));
    }
  }
  return s;
}

export function register(def: Definer): void {
  def("import", 1, ([p], pos, state) => state.importFile(realisePath(state, p, pos), pos));
  def("scopedImport", 2, ([s, p], pos, state) => state.scopedImport(forceAttrs(s, pos), realisePath(state, p, pos), pos));
  def("findFile", 2, ([sp, p], pos, state) => {
    const entries = forceList(sp, pos).map((e) => {
      const a = forceAttrs(e, pos);
      const path = a.get("path");
      if (path === undefined) throw new EvalError("attribute 'path' missing", pos);
      const prefix = a.get("prefix");
      return { prefix: prefix === undefined ? "" : forceString(prefix, pos), path: strValue(coerceToString(state, path, pos, AS_TEXT)) };
    });
    const name = forceString(p, pos);
    const found = state.lookupSearchPath(entries, name);
    if (found === null)
      throw new EvalError(searchPathMiss(name, state.options.pureEval ?? false), pos);
    return new NixPath(found);
  });
  def("getEnv", 1, ([n], pos, state) => (state.options.pureEval || state.options.restrictEval ? "" : process.env[forceString(n, pos)] ?? ""));
  def("placeholder", 1, ([n], pos) => "/" + encodeNixBase32(hashBytes("sha256", `nix-output:${forceString(n, pos)}`).digest));
  def("hashString", 2, ([a, s], pos) => {
    const algo = parseAlgo(forceString(a, pos), pos);
    const text = strValue(forceStringValue(s, pos));
    return hashBytes(algo, hasRawBytes(text) ? encodeBytes(text) : text).toBase16();
  });
  def("hashFile", 2, ([a, p], pos, state) => {
    const algo = parseAlgo(forceString(a, pos), pos);
    const path = realisePath(state, p, pos);
    let data: Uint8Array;
    try {
      data = state.io.readFile(path);
    } catch (e) {
      passFatal(e);
      if (e instanceof RestrictedPathError) throw e;
      throw new EvalError(`opening file '${path}': ${describeIOError(e)}`, pos);
    }
    return hashBytes(algo, data).toBase16();
  });
  def("convertHash", 1, ([args], pos) => {
    const a = forceAttrs(args, pos);
    const h = a.get("hash");
    if (h === undefined) throw new EvalError("attribute 'hash' missing", pos).addTrace("while locating the attribute 'hash'", pos);
    const algoL = a.get("hashAlgo");
    const algo = algoL === undefined ? undefined : parseAlgo(forceString(algoL, pos), pos);
    const fmtL = a.get("toHashFormat");
    if (fmtL === undefined) throw new EvalError("attribute 'toHashFormat' missing", pos);
    const fmt = forceString(fmtL, pos);
    const encs: Record<string, HashEncoding> = { base16: "base16", nix32: "nix32", base32: "nix32", base64: "base64", sri: "sri" };
    const enc = encs[fmt];
    if (!enc) throw new EvalError(`unknown hash format '${fmt}', expect 'base16', 'base32', 'base64', or 'sri'`, pos);
    let hash: Hash;
    try {
      hash = Hash.parse(forceString(h, pos), algo);
    } catch (e) {
      passFatal(e);
      throw new EvalError((e as Error).message, pos);
    }
    return hash.format(enc, enc === "sri");
  });
  // fetchClosure is experimental in Nix 2.26 and absent from its builtins, as here
  for (const f of ["fetchMercurial", "getFlake"]) {
    def(f, 1, ([a]) => {
      force(a);
      throw new EvalError(`not implemented: builtins.${f}`);
    });
  }
  void mkString;
  void ctxOf;
}

function parseAlgo(s: string, pos: Pos | null) {
  try {
    return parseHashAlgo(s);
  } catch (e) {
    passFatal(e);
    throw new EvalError((e as Error).message, pos);
  }
}
