// Arithmetic and bit builtins.
import { EvalError, force, forceInt, forceNumber, checkedInt } from "../value";
import type { Definer } from "./registry";
import { add, sub, mul, div } from "../operators";

export function register(def: Definer): void {
  def("add", 2, ([a, b], pos, state) => {
    forceNumber(a, pos);
    forceNumber(b, pos);
    return add(state, force(a), force(b), pos!);
  });
  def("sub", 2, ([a, b], pos) => sub(forceNumber(a, pos), forceNumber(b, pos), pos));
  def("mul", 2, ([a, b], pos) => mul(forceNumber(a, pos), forceNumber(b, pos), pos));
  def("div", 2, ([a, b], pos) => div(forceNumber(a, pos), forceNumber(b, pos), pos));
  def("bitAnd", 2, ([a, b], pos) => BigInt.asIntN(64, forceInt(a, pos) & forceInt(b, pos)));
  def("bitOr", 2, ([a, b], pos) => BigInt.asIntN(64, forceInt(a, pos) | forceInt(b, pos)));
  def("bitXor", 2, ([a, b], pos) => BigInt.asIntN(64, forceInt(a, pos) ^ forceInt(b, pos)));
  def("ceil", 1, ([a], pos) => toIntChecked(Math.ceil(Number(forceNumber(a, pos))), pos));
  def("floor", 1, ([a], pos) => toIntChecked(Math.floor(Number(forceNumber(a, pos))), pos));
  void checkedInt;
}

function toIntChecked(f: number, pos: import("../ast").Pos | null): bigint {
  if (!Number.isFinite(f) || f >= 9223372036854775808 || f < -9223372036854775808) throw new EvalError(`integer overflow in converting ${f} to an integer`, pos);
  return BigInt(f);
}
