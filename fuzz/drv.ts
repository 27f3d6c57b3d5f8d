// Target "drv": the ATerm derivation reader (core/derivation.ts
// parseDerivation) on mutated .drv files made by Nix. Its own error is
// DerivationParseError. What it accepts must print back to text that parses
// to the same derivation (print . parse is stable).
import { DerivationParseError, parseDerivation, printDerivation } from "../core/derivation";
import type { Target } from "./engine";
import { seedFiles } from "./seeds";

const dec = new TextDecoder();

export const drvTarget: Target = {
  name: "drv",
  seeds: () => seedFiles("drv"),
  dictionary: ["Derive(", "DrvWithVersion(", "[", "]", "(", ")", ",", '"', '\\"', "\\\\", "\\n", "\\t", "\\", '""', "/nix/store/", ".drv", "out", "r:sha256", "text:sha256", "sha256", '"x86_64-linux"', "\n", "\0"],
  maxLen: 16 * 1024,
  run(input) {
    const drv = parseDerivation(dec.decode(input));
    const text = printDerivation(drv);
    const again = printDerivation(parseDerivation(text));
    if (again !== text) throw new Error(`internal error: printing what was parsed is not stable:\n${text}\n${again}`);
    return "ok";
  },
  expected: (e) => e instanceof DerivationParseError,
};
