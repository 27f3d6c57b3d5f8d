// File system builtins: reading files and directories through EvalIO.
// (Adding paths to the store, toFile and the fetchers are glue/'s.)
import { EvalError, Lazy, NixAttrs } from "../value";
import type { Definer } from "./registry";
import { IOError, describeIOError } from "../io";
import { realisePath } from "./misc";
import { passFatal } from "../limits";
import { RestrictedPathError } from "../restricted-io";
import { decodeBytes } from "../utf8";

/** Nix's message for a failed read of `path`: "<what> '<path>': <errno text>". */
function ioFailure(what: string, path: string, e: unknown, pos: number | null): EvalError {
  passFatal(e);
  if (e instanceof EvalError) return e;
  return new EvalError(`${what} '${path}': ${describeIOError(e)}`, pos);
}

/** readDir's sets, by the entry list EvalIO gave (an EvalIO that remembers a directory's listing gets one set for it). */
const dirSets = new WeakMap<readonly [string, string][], NixAttrs>();

export function register(def: Definer): void {
  def("readFile", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    let bytes: Uint8Array;
    try {
      bytes = state.io.readFile(path);
    } catch (e) {
      throw ioFailure("opening file", path, e, pos);
    }
    // Nix's strings are C strings
    if (bytes.indexOf(0) >= 0) throw new EvalError(`the contents of the file '${path}' cannot be represented as a Nix string`, pos);
    return decodeBytes(bytes);
  });
  def("readDir", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    let entries: [string, string][];
    try {
      entries = state.io.readDir(path);
    } catch (e) {
      throw ioFailure("opening directory", path, e, pos);
    }
    let set = dirSets.get(entries);
    if (set === undefined) dirSets.set(entries, (set = NixAttrs.fromMap(new Map(entries as [string, Lazy][]))));
    return set;
  });
  def("readFileType", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    let type: string | null;
    try {
      type = state.io.fileType(path);
    } catch (e) {
      throw ioFailure("getting status of", path, e, pos);
    }
    if (type === null) throw ioFailure("getting status of", path, new IOError("", "ENOENT"), pos);
    return type;
  });
  def("pathExists", 1, ([p], pos, state) => {
    const path = realisePath(state, p, pos);
    try {
      // a trailing "/" or "/." asks for a directory (the path must resolve to one), as in Nix
      if (path.endsWith("/") || path.endsWith("/.")) return state.io.resolvedType(path) === "directory";
      return state.io.fileType(path) !== null;
    } catch (e) {
      passFatal(e);
      // a forbidden path is "missing" (as Nix); another evaluation error (a
      // build during evaluation that failed or is not allowed) is not
      if (e instanceof EvalError && !(e instanceof RestrictedPathError)) throw e;
      return false;
    }
  });
}
