// Target "parser": the Nix parser (eval/parser.ts parse, lexer included) on
// mutated .nix sources. Its own errors are ParseError and LexError.
import { join } from "node:path";
import { parse, ParseError } from "../eval/parser";
import { LexError } from "../eval/lexer";
import type { Target } from "./engine";
import { filesOf, repoRoot } from "./seeds";

const dec = new TextDecoder();

export const parserTarget: Target = {
  name: "parser",
  seeds: () => {
    const conformance = filesOf(join(repoRoot, "..", "shared", "conformance", "eval"), (n) => n.endsWith(".nix"), 16 * 1024);
    const builtIn = ['let x = { a = 1; b = "s${toString 2}"; } // { c = [ 1 2.5 ./p <n> ]; }; in x.a or (y: y) 3', "rec { f = { a ? 1, ... }@args: ''\n  i ${a}\n''; }.f {}"];
    return [...conformance, ...builtIn.map((s) => new TextEncoder().encode(s))];
  },
  dictionary: [
    "let ", " in ", "rec ", "with ", "inherit ", "if ", " then ", " else ", "assert ", " or ", "{", "}", "(", ")", "[", "]", ";", "=", ":", ",", ".", "...", "@", "?",
    "+", "-", "*", "/", "++", "//", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "->", "!", "|>", "<|", "1", "9223372036854775807", "9223372036854775808", "1.5e308", "1e-400", ".5",
    '"', "''", "${", "''${", "'''", "''\\", "\\", "$", "$${", "./a", "~/a", "/a/b", "a/${x}", "<nixpkgs>", "http://a/b", "#c\n", "/*", "*/", "\n", "\t", "\r", "__curPos", "x.${y}", "\"${", "or", "a-b'",
  ],
  maxLen: 32 * 1024,
  run(input) {
    parse(dec.decode(input), "/fuzz/input.nix", "/fuzz");
    return "ok";
  },
  expected: (e) => e instanceof ParseError || e instanceof LexError,
};
