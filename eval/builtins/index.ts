// Builds the `builtins` set and the global scope from the builtin modules.
import { Lazy, NixAttrs, PrimOp, Thunk, Value } from "../value";
import type { EvalState } from "../state";
import type { BuiltinDef, Definer } from "./registry";
import * as control from "./control";
import * as lists from "./lists";
import * as attrs from "./attrs";
import * as arith from "./arith";
import * as strings from "./strings";
import * as json from "./json";
import * as xml from "./xml";
import * as misc from "./misc";
import * as toml from "./toml";
import * as flakeref from "./flakeref";
import * as fs from "./fs";
import * as context from "./context";
import { NIX_COMPAT_VERSION } from "../../core/version";
import { setCacheGlobals } from "../ast-cache";

/** Names that are in the global scope without the `builtins.` prefix (Nix 2.26). */
const GLOBAL = new Set([
  "abort", "baseNameOf", "break", "derivation", "derivationStrict", "dirOf", "fetchGit", "fetchMercurial", "fetchTarball",
  "fetchTree", "fromTOML", "import", "isNull", "map", "placeholder", "removeAttrs", "scopedImport", "throw", "toString",
]);

export function installBuiltins(state: EvalState): void {
  const defs: BuiltinDef[] = [];
  const def: Definer = (name, arity, fn) => defs.push({ name, arity, fn });
  for (const m of [control, lists, attrs, arith, strings, json, xml, misc, toml, flakeref, fs, context, ...state.options.extensions]) m.register(def);

  const map = new Map<string, Lazy>();
  for (const d of defs) {
    const op = new PrimOp(d.name, d.arity, d.fn, state);
    map.set(d.name, op);
  }
  const constants: [string, Value][] = [
    ["true", true],
    ["false", false],
    ["null", null],
    ["langVersion", 6],
    ["nixVersion", NIX_COMPAT_VERSION],
    ["currentSystem", state.options.currentSystem],
    ["storeDir", state.options.storeDir],
    ["currentTime", Math.floor(Date.now() / 1000)],
    ["nixPath", state.searchPath.map((e) => NixAttrs.from([["path", e.path], ["prefix", e.prefix]]))],
  ];
  for (const [k, v] of constants) map.set(k, v);
  for (const ext of state.options.extensions) for (const [k, v] of ext.values?.(state) ?? []) map.set(k, v);
  // builtins.builtins is the set itself: a thunk that already holds it
  const self = Thunk.done(null);
  map.set("builtins", self);
  const builtins = NixAttrs.fromMap(map);
  self.value = builtins;
  state.builtins = builtins;

  state.defineGlobal("builtins", builtins);
  for (const k of ["true", "false", "null"]) state.defineGlobal(k, map.get(k)!);
  for (const [k, v] of map) {
    if (k === "builtins" || k === "true" || k === "false" || k === "null") continue;
    if (GLOBAL.has(k)) state.defineGlobal(k, v);
    state.defineGlobal(`__${k}`, v);
  }
  setCacheGlobals(state.globalNames.keys());
}

export { Thunk };
