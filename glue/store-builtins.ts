// Builtins that add to the store: builtins.path, filterSource and toFile.
import type { Pos } from "../eval/ast";
import { EvalError, NixString, force, forceAttrs, forceBool, forceString, forceStringValue, strValue, ctxOf, storePathString, type Value } from "../eval/value";
import type { BuiltinExtension } from "../eval/builtins/registry";
import type { EvalState } from "../eval/state";
import type { FileType, ImportOptions } from "../eval/io";
import { realisePath } from "../eval/builtins/misc";
import { callFunction } from "../eval/call";
import { baseNameOf } from "../eval/paths";
import { Hash } from "../core/hash";
import { validateStorePathName } from "../core/store-path";
import { passFatal } from "../eval/limits";
import type { Glue } from "./context";

function validName(name: string, pos: Pos | null): void {
  try {
    validateStorePathName(name);
  } catch (e) {
    passFatal(e);
    throw new EvalError((e as Error).message, pos);
  }
}

function addPath(state: EvalState, path: string, name: string | undefined, filter: Value | undefined, pos: Pos | null, opts: ImportOptions = {}): NixString {
  const n = name ?? baseNameOf(path);
  validName(n, pos);
  const filterFn =
    filter === undefined
      ? undefined
      : (p: string, type: FileType) => {
          const r = force(callFunction(callFunction(filter as never, p, pos), type, pos));
          if (typeof r !== "boolean") throw new EvalError("expected a Boolean from the filter function", pos);
          return r;
        };
  return storePathString(state.importPath(path, { ...opts, name: n, filter: filterFn }, pos));
}

export function storeBuiltins(glue: Glue): BuiltinExtension {
  return {
    register(def) {
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
      def("toFile", 2, ([n, s], pos) => {
        const name = forceString(n, pos);
        const sv = forceStringValue(s, pos);
        const refs: string[] = [];
        for (const c of ctxOf(sv)) {
          if (c.startsWith("=") || c.startsWith("!")) throw new EvalError(`files created by builtins.toFile may not reference derivations, but ${name} references ${c.replace(/^=|^![^!]*!/, "")}`, pos);
          refs.push(c);
        }
        validName(name, pos);
        return storePathString(glue.io.addText(name, strValue(sv), refs));
      });
    },
  };
}
