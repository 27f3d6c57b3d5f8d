// File system builtins and adding paths/files to the store.
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { Pos } from "../ast";
import { EvalError, Lazy, NixAttrs, NixString, force, forceAttrs, forceBool, forceString, forceStringValue, strValue, ctxOf, storePathString } from "../value";
import type { Definer } from "./registry";
import { type AddPathOptions, fileTypeOf } from "../io";
import type { EvalState } from "../state";
import { realisePath } from "./misc";
import { callFunction } from "../call";
import { baseNameOf } from "../paths";
import { coerceToString } from "../coerce";
import { Hash } from "../../core/hash";
import { validateStorePathName } from "../../core/store-path";
import { passFatal } from "../limits";

function fileType(path: string): string {
  return fileTypeOf(lstatSync(path));
}

export function register(def: Definer): void {
  def("readFile", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    try {
      return state.readSourceFile(path);
    } catch (e) {
      passFatal(e);
      throw new EvalError(`opening file '${path}': ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "No such file or directory" : (e as Error).message}`, pos);
    }
  });
  def("readDir", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (e) {
      passFatal(e);
      throw new EvalError(`opening directory '${path}': ${(e as Error).message}`, pos);
    }
    return NixAttrs.fromMap(new Map(names.map((n) => [n, fileType(`${path}/${n}`)] as [string, Lazy])));
  });
  def("readFileType", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    try {
      return fileType(path);
    } catch (e) {
      passFatal(e);
      throw new EvalError(`getting status of '${path}': ${(e as Error).message}`, pos);
    }
  });
  def("pathExists", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    if (state.store.memoryFile?.(path) !== undefined) return true;
    try {
      if (path.endsWith("/")) return statSync(path).isDirectory();
      lstatSync(path);
      return true;
    } catch (e) {
      passFatal(e);
      return false;
    }
  });
  def("filterSource", 2, ([f, p], pos, state) => addPath(state, realisePath(state, p, pos), undefined, force(f), pos));
  def("path", 1, ([a], pos, state) => {
    const args = forceAttrs(a, pos);
    const p = args.get("path");
    if (p === undefined) throw new EvalError("missing required 'path' attribute in the first argument to builtins.path", pos);
    const path = realisePath(state, p, pos);
    const nameL = args.get("name");
    const name = nameL === undefined ? undefined : forceString(nameL, pos);
    const filterL = args.get("filter");
    const recursiveL = args.get("recursive");
    const flat = recursiveL !== undefined && !forceBool(recursiveL, pos);
    const shaL = args.get("sha256");
    let expected: Hash | undefined;
    if (shaL !== undefined) {
      try {
        expected = Hash.parse(forceString(shaL, pos), "sha256");
      } catch (e) {
        passFatal(e);
        throw new EvalError((e as Error).message, pos);
      }
    }
    for (const k of args.keys())
      if (!["path", "name", "filter", "recursive", "sha256"].includes(k)) throw new EvalError(`unsupported argument '${k}' to 'builtins.path'`, pos);
    return addPath(state, path, name, filterL === undefined ? undefined : force(filterL), pos, { flat, expected });
  });
  def("toFile", 2, ([n, s], pos, state) => {
    const name = forceString(n, pos);
    const sv = forceStringValue(s, pos);
    const refs: string[] = [];
    for (const c of ctxOf(sv)) {
      if (c.startsWith("=") || c.startsWith("!")) throw new EvalError(`files created by builtins.toFile may not reference derivations, but ${name} references ${c.replace(/^=|^![^!]*!/, "")}`, pos);
      refs.push(c);
    }
    try {
      validateStorePathName(name);
    } catch (e) {
      passFatal(e);
      throw new EvalError((e as Error).message, pos);
    }
    const sp = state.store.addTextFile(name, strValue(sv), refs);
    return storePathString(sp);
  });
}

function addPath(state: EvalState, path: string, name: string | undefined, filter: unknown, pos: Pos | null, opts: AddPathOptions = {}): NixString {
  const n = name ?? baseNameOf(path);
  try {
    validateStorePathName(n);
  } catch (e) {
    passFatal(e);
    throw new EvalError((e as Error).message, pos);
  }
  const filterFn = filter
    ? (p: string, type: string) => {
        const r = force(callFunction(callFunction(filter as never, p, pos), type, pos));
        if (typeof r !== "boolean") throw new EvalError("expected a Boolean from the filter function", pos);
        return r;
      }
    : undefined;
  const sp = state.store.addPath(path, pos, n, filterFn, opts);
  return storePathString(sp);
}

export { coerceToString, strValue };
