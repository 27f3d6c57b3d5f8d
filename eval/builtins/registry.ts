// How builtins are defined: each module calls `def` for its primops; index.ts
// collects them into the `builtins` set and the global scope.
import type { Pos } from "../ast";
import type { Lazy, Value } from "../value";
import type { EvalState } from "../state";

export type BuiltinFn = (args: Lazy[], pos: Pos | null, state: EvalState) => Value;

export interface BuiltinDef {
  name: string;
  arity: number;
  fn: BuiltinFn;
}

export type Definer = (name: string, arity: number, fn: BuiltinFn) => void;

/** Builtins an embedding adds to the language's own (glue/: derivations, fetchers, path adding). */
export interface BuiltinExtension {
  register(def: Definer): void;
  /** Values of the builtins set that are not primops (as `derivation`, written in Nix), made per evaluator. */
  values?(state: EvalState): [string, Lazy][];
}
