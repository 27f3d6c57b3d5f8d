// Arithmetic and bit builtins.
import { force, forceInt, forceNumber, mkInt, numberOf, toBigInt, type NixInt } from "../value";
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
  def("bitAnd", 2, ([a, b], pos) => mkInt(toBigInt(forceInt(a, pos)) & toBigInt(forceInt(b, pos))));
  def("bitOr", 2, ([a, b], pos) => mkInt(toBigInt(forceInt(a, pos)) | toBigInt(forceInt(b, pos))));
  def("bitXor", 2, ([a, b], pos) => mkInt(toBigInt(forceInt(a, pos)) ^ toBigInt(forceInt(b, pos))));
  def("ceil", 1, ([a], pos) => floatToInt(Math.ceil(numberOf(forceNumber(a, pos)))));
  def("floor", 1, ([a], pos) => floatToInt(Math.floor(numberOf(forceNumber(a, pos)))));
}

/**
 * A float as an int the way Nix 2.26 converts it (C++ double -> int64 on
 * x86-64): values out of range and NaN become -9223372036854775808.
 */
function floatToInt(f: number): NixInt {
  if (Number.isSafeInteger(f)) return f + 0;
  if (!Number.isFinite(f) || f >= 9223372036854775808 || f < -9223372036854775808) return -(2n ** 63n);
  return mkInt(BigInt(f));
}
