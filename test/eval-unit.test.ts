// In-process tests of the evaluator through runEval (eval/driver.ts): the
// printed result or the error of each expression, with nix-instantiate flags.
// Every expected string was produced by the Nix 2.26 oracle
// (`../shared/tools/nix-oracle nix-instantiate --eval FLAGS -E EXPR`);
// cases where we still differ from it are marked { todo } with our output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "./helpers";
import { evalIn, errorLine, assertOutcome } from "./fixtures/eval/harness";
import { NixAttrs, type Lazy } from "../eval/value";
import { update } from "../eval/operators";

/** The directory relative paths in the expressions resolve against. */
const FIX = join(repoRoot, "test", "fixtures", "eval");

interface Case {
  expr: string;
  flags?: string[];
  /** stdout on success (exit 0) */
  out?: string;
  /** the innermost "error: ..." line on failure (exit 1) */
  err?: string | RegExp;
  todo?: string;
}

const cases: Case[] = [
  // literals, strings and paths
  { expr: "42", out: "42\n" },
  { expr: "(-7)", out: "-7\n" },
  { expr: "1.5", out: "1.5\n" },
  { expr: "1.0", out: "1\n" },
  { expr: "0.1 + 0.2", out: "0.3\n" },
  { expr: "1e3", err: "error: undefined variable 'e3'" },
  { expr: "123456789.123", out: "1.23457e+08\n" },
  { expr: "\"a\\nb\\t\\\"c\\\\\"", out: "\"a\\nb\\t\\\"c\\\\\"\n" },
  { expr: "''\n  x\n    y\n''", out: "\"x\\n  y\\n\"\n" },
  { expr: "\"\\${x}\"", out: "\"\\${x}\"\n" },
  { expr: "''a''${b}'''c''", out: "\"a\\${b}''c\"\n" },
  { expr: "null", out: "null\n" },
  { expr: "true", out: "true\n" },
  { expr: "./foo", out: `${FIX}/foo\n` },
  { expr: "[ 1 \"a\" null true 2.5 ]", flags: ["--strict"], out: "[ 1 \"a\" null true 2.5 ]\n" },
  { expr: "{ }", out: "{ }\n" },
  { expr: "[ ]", out: "[ ]\n" },
  { expr: "rec { a = 1; b = a + 1; }", flags: ["--strict"], out: "{ a = 1; b = 2; }\n" },
  { expr: "{ a.b.c = 1; a.d = 2; }", flags: ["--strict"], out: "{ a = { b = { c = 1; }; d = 2; }; }\n" },
  { expr: "let a = 1; in { inherit a; }", flags: ["--strict"], out: "{ a = 1; }\n" },
  { expr: "\"\\$\"", out: "\"$\"\n" },
  { expr: "\"$\"", out: "\"$\"\n" },
  { expr: "9223372036854775807", out: "9223372036854775807\n" },
  // operators and precedence
  { expr: "1 + 2 * 3 - 4 / 2", out: "5\n" },
  { expr: "2 - 3 - 4", out: "-5\n" },
  { expr: "[1] ++ [2] ++ [3]", flags: ["--strict"], out: "[ 1 2 3 ]\n" },
  { expr: "{ a = 1; } // { b = 2; } // { a = 3; }", flags: ["--strict"], out: "{ a = 3; b = 2; }\n" },
  { expr: "!true || true && false", out: "false\n" },
  { expr: "false -> true", out: "true\n" },
  { expr: "true -> false", out: "false\n" },
  { expr: "1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 4", out: "false\n" },
  { expr: "[1 2] == [1 2]", out: "true\n" },
  { expr: "{ a = 1; } ? a", out: "true\n" },
  { expr: "{ a.b = 1; } ? a.b", out: "true\n" },
  { expr: "(-(-3))", out: "3\n" },
  { expr: "(- 2 * 3)", out: "-6\n" },
  { expr: "1 + 2.5", out: "3.5\n" },
  { expr: "7 / 2.0", out: "3.5\n" },
  { expr: "\"a\" + \"b\"", out: "\"ab\"\n" },
  { expr: "\"a\" < \"b\"", out: "true\n" },
  { expr: "[1 2] < [1 3]", out: "true\n" },
  { expr: "1 == 1.0", out: "true\n" },
  { expr: "(x: x) == (x: x)", out: "false\n" },
  { expr: "let f = x: x; in f == f", out: "false\n" },
  { expr: "let f = x: x; in [f] == [f]", out: "true\n" },
  { expr: "(-9223372036854775807 - 1)", out: "-9223372036854775808\n" },
  // int64 overflow: Nix 2.26 errors on + - * and on INT64_MIN / -1
  { expr: "9223372036854775807 + 1", err: "error: integer overflow in adding 9223372036854775807 + 1" },
  { expr: "(-9223372036854775807) - 2", err: "error: integer overflow in subtracting -9223372036854775807 - 2" },
  { expr: "3000000000 * 4000000000", err: "error: integer overflow in multiplying 3000000000 * 4000000000" },
  { expr: "(-9223372036854775807 - 1) / (-1)", err: "error: integer overflow in dividing -9223372036854775808 / -1" },
  { expr: "1 / 0", err: "error: division by zero" },
  { expr: "builtins.add 9223372036854775807 1", err: "error: integer overflow in adding 9223372036854775807 + 1" },
  { expr: "builtins.sub (-9223372036854775807) 2", err: "error: integer overflow in subtracting -9223372036854775807 - 2" },
  { expr: "builtins.mul 4611686018427387904 2", err: "error: integer overflow in multiplying 4611686018427387904 * 2" },
  { expr: "9223372036854775808", err: "error: invalid integer '9223372036854775808'" },
  // strings are bytes: UTF-8 lengths and substrings
  { expr: "builtins.stringLength \"héllo\"", out: "6\n" },
  { expr: "builtins.stringLength \"🎉\"", out: "4\n" },
  { expr: "builtins.substring 1 2 \"héllo\"", out: "\"é\"\n" },
  { expr: "builtins.substring 0 1 \"é\"", out: "\"�\"\n" },
  { expr: "builtins.substring 2 100 \"aé\"", out: "\"�\"\n" },
  { expr: "builtins.stringLength (builtins.substring 0 3 \"日本\")", out: "3\n" },
  { expr: "builtins.substring 3 3 \"日本\"", out: "\"本\"\n" },
  // string context
  { expr: "builtins.hasContext \"abc\"", out: "false\n" },
  { expr: "builtins.hasContext \"${builtins.toFile \"x\" \"y\"}\"", out: "true\n" },
  { expr: "builtins.getContext (builtins.unsafeDiscardStringContext \"${builtins.toFile \"x\" \"y\"}\")", flags: ["--strict"], out: "{ }\n" },
  { expr: "builtins.attrNames (builtins.getContext \"${builtins.toFile \"x\" \"y\"}\")", flags: ["--strict"], out: "[ \"/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x\" ]\n" },
  { expr: "builtins.getContext \"${builtins.toFile \"x\" \"y\"}\"", flags: ["--strict"], out: "{ \"/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x\" = { path = true; }; }\n" },
  { expr: "builtins.toFile \"x\" \"y\"", out: "\"/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x\"\n" },
  { expr: "builtins.hasContext (builtins.substring 0 1 \"${builtins.toFile \"x\" \"y\"}\")", out: "true\n" },
  { expr: "builtins.getContext (builtins.appendContext \"/nix/store/dhx1lzmkz6rs7wb1q1i0f4k7l8v3pv4v-x\" { \"/nix/store/dhx1lzmkz6rs7wb1q1i0f4k7l8v3pv4v-x\" = { path = true; }; })", flags: ["--strict"], out: "{ \"/nix/store/dhx1lzmkz6rs7wb1q1i0f4k7l8v3pv4v-x\" = { path = true; }; }\n" },
  // printing
  { expr: "let x = { a = 1; }; in [ x x ]", flags: ["--strict"], out: "[ { a = 1; } «repeated» ]\n" },
  { expr: "let x = { a = 1; }; in { p = x; q = x; }", flags: ["--strict"], out: "{ p = { a = 1; }; q = «repeated»; }\n" },
  { expr: "[ (x: x) builtins.map builtins.add ({ a, ... }: a) ]", flags: ["--strict"], out: "[ <LAMBDA> <PRIMOP> <PRIMOP> <LAMBDA> ]\n" },
  { expr: "{ \"if\" = 1; \"then\" = 2; \"a b\" = 3; \"a-b'\" = 4; \"\" = 5; \"_x\" = 6; \"1\" = 7; }", flags: ["--strict"], out: "{ \"\" = 5; \"1\" = 7; _x = 6; \"a b\" = 3; a-b' = 4; \"if\" = 1; \"then\" = 2; }\n" },
  { expr: "{ a = { b = 1; }; }", out: "{ a = <CODE>; }\n" },
  { expr: "[ (1 + 1) ]", out: "[ <CODE> ]\n" },
  { expr: "{ a = 1 + 1; }", out: "{ a = <CODE>; }\n" },
  { expr: "let x = { y = x; }; in x", flags: ["--strict"], out: "{ y = «repeated»; }\n" },
  { expr: "let x = { y = x; }; in x", out: "{ y = «repeated»; }\n" },
  { expr: "[ null ]", out: "[ null ]\n" },
  { expr: "{ x = \"a\\nb\"; }", flags: ["--strict"], out: "{ x = \"a\\nb\"; }\n" },
  { expr: "[ \"\\${x}\" ]", flags: ["--strict"], out: "[ \"\\${x}\" ]\n" },
  { expr: "\"\\r\"", out: "\"\\r\"\n" },
  { expr: "builtins.fromJSON \"\\\"\\\\u0001\\\"\"", out: "\"\u0001\"\n" },
  { expr: "/. + \"a b\"", out: "/a b\n" },
  { expr: "[ 1.0 2.5e20 1.0e-5 100000.0 1234567.0 ]", flags: ["--strict"], out: "[ 1 2.5e+20 1e-05 100000 1.23457e+06 ]\n" },
  { expr: "builtins.derivation", out: "<LAMBDA>\n" },
  { expr: "{ type = \"derivation\"; name = \"x\"; }", flags: ["--strict"], out: "{ name = \"x\"; type = \"derivation\"; }\n" },
  { expr: "{ type = \"derivation\"; drvPath = \"/nix/store/x.drv\"; }", flags: ["--strict"], out: "{ drvPath = \"/nix/store/x.drv\"; type = \"derivation\"; }\n" },
  { expr: "{ outPath = \"/o\"; a = 1; }", flags: ["--strict"], out: "{ a = 1; outPath = \"/o\"; }\n" },
  // --json
  { expr: "{ a = [ 1 2.5 \"x\" null true ]; b.c = \"\\n\\u\"; }", flags: ["--json","--strict"], out: "{\"a\":[1,2.5,\"x\",null,true],\"b\":{\"c\":\"\\nu\"}}\n" },
  { expr: "{ outPath = \"/o\"; }", flags: ["--json"], out: "\"/o\"\n" },
  { expr: "{ __toString = s: \"ts\"; }", flags: ["--json"], out: "\"ts\"\n" },
  { expr: "x: x", flags: ["--json"], err: "error: cannot convert a function to JSON" },
  { expr: "\"é\\t\"", flags: ["--json"], out: "\"é\\t\"\n" },
  { expr: "0.1", flags: ["--json"], out: "0.1\n" },
  { expr: "1.0e30", flags: ["--json"], out: "1e+30\n" },
  { expr: "{ z = 1; a = 2; }", flags: ["--json","--strict"], out: "{\"a\":2,\"z\":1}\n" },
  // --xml
  { expr: "{ a = 1; b = [ \"x\" true null 1.5 ]; }", flags: ["--xml","--strict"], out: "<?xml version='1.0' encoding='utf-8'?>\n<expr>\n  <attrs>\n    <attr column=\"3\" line=\"1\" name=\"a\">\n      <int value=\"1\" />\n    </attr>\n    <attr column=\"10\" line=\"1\" name=\"b\">\n      <list>\n        <string value=\"x\" />\n        <bool value=\"true\" />\n        <null />\n        <float value=\"1.5\" />\n      </list>\n    </attr>\n  </attrs>\n</expr>\n" },
  { expr: "{ a = 1; }", flags: ["--xml"], out: "<?xml version='1.0' encoding='utf-8'?>\n<expr>\n  <attrs>\n    <attr column=\"3\" line=\"1\" name=\"a\">\n      <int value=\"1\" />\n    </attr>\n  </attrs>\n</expr>\n" },
  { expr: "{ a, b ? 1, ... }: a", flags: ["--xml","--no-location"], out: "<?xml version='1.0' encoding='utf-8'?>\n<expr>\n  <function>\n    <attrspat ellipsis=\"1\">\n      <attr name=\"a\" />\n      <attr name=\"b\" />\n    </attrspat>\n  </function>\n</expr>\n" },
  { expr: "\"<&>\\\"'\"", flags: ["--xml"], out: "<?xml version='1.0' encoding='utf-8'?>\n<expr>\n  <string value=\"&lt;&amp;&gt;&quot;'\" />\n</expr>\n" },
  // -A attribute paths, --arg and --argstr auto-calling
  { expr: "{ a.b = [ 10 { c = 3; } ]; }", flags: ["-A","a.b.1.c"], out: "3\n" },
  { expr: "{ a.b = 1; }", flags: ["-A","a.x"], err: "error: attribute 'x' in selection path 'a.x' not found" },
  { expr: "{ \"a.b\" = 1; }", flags: ["-A","\"a.b\""], out: "1\n" },
  { expr: "builtins.genList (x: x * 2) 40", flags: ["-A","35"], out: "70\n" },
  // errors caught by tryEval leave no call depth behind (eval/call.ts)
  { expr: "let f = n: if n == 0 then throw \"x\" else f (n - 1); in builtins.genList (i: (builtins.tryEval (f 40)).success) 5", flags: ["--strict", "--option", "max-call-depth", "60"], out: "[ false false false false false ]\n" },
  { expr: "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 100", flags: ["--option", "max-call-depth", "60"], err: "error: stack overflow; max-call-depth exceeded" },
  { expr: "[ 1 2 ]", flags: ["-A","5"], err: "error: list index 5 in selection path '5' is out of range" },
  { expr: "{ a = 1; }", flags: ["-A","a.0"], err: "error: the expression selected by the selection path 'a.0' should be a list but is an integer" },
  { expr: "{ x, y ? 2 }: x + y", flags: ["--arg","x","40"], out: "42\n" },
  { expr: "{ x }: x", flags: ["--argstr","x","hi"], out: "\"hi\"\n" },
  { expr: "{ x }: x", out: "<LAMBDA>\n" },
  // replaceStrings: the first pattern listed wins at a position; `to` strings are forced only when used
  { expr: "let r = builtins.replaceStrings; in [ (r [\"a\" \"ab\"] [\"1\" \"2\"] \"abcab\") (r [\"ab\" \"a\"] [\"1\" \"2\"] \"abcab\") (r [\"aa\"] [\"b\"] \"aaaaa\") (r [\"x\"] [\"y\"] \"nothing here\") (r [\"oo\" \"o\"] [\"0\" \"O\"] \"foooo\") (r [\"b\" \"abc\"] [\"B\" \"X\"] \"abcabc\") (r [] [] \"same\") ]", flags: ["--strict"], out: "[ \"1bc1b\" \"1c1\" \"bba\" \"nothing here\" \"f00\" \"XX\" \"same\" ]\n" },
  { expr: "let r = builtins.replaceStrings; in [ (r [\"\"] [\"-\"] \"abc\") (r [\"a\" \"\"] [\"X\" \"-\"] \"banana\") (r [\"é\" \"😀\"] [\"e\" \":)\"] \"café 😀 ok😀\") (r [\"&\" \"<\" \">\" \"'\" \"\\\"\"] [\"&amp;\" \"&lt;\" \"&gt;\" \"&apos;\" \"&quot;\"] \"<a href='x'>&\\\"</a>\") ]", flags: ["--strict"], out: "[ \"-a-b-c-\" \"-bX-nX-nX-\" \"cafe :) ok:)\" \"&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;\" ]\n" },
  { expr: "let r = builtins.replaceStrings; f = builtins.toFile \"t\" \"x\"; in [ (builtins.getContext (r [\"q\"] [\"${f}\"] \"abc\")) (builtins.getContext (r [\"a\"] [\"${f}\"] \"abc\")) (r [\"a\" \"b\"] [\"${f}\" (throw \"not forced\")] \"aa\") ]", flags: ["--strict"], out: "[ { } { \"/nix/store/n67lcg14n0q7xc51d5sm6j6i40kpnvfk-t\" = { path = true; }; } \"/nix/store/n67lcg14n0q7xc51d5sm6j6i40kpnvfk-t/nix/store/n67lcg14n0q7xc51d5sm6j6i40kpnvfk-t\" ]\n" },
  // substring and stringLength of long strings (a one-string cache): byte offsets, consecutive strings of one length
  // a million pieces joined in process (their contexts were once spread as one argument each: a stack overflow)
  { expr: "builtins.stringLength (builtins.concatStringsSep \",\" (builtins.genList toString 1000000))", out: "6888889\n" },
  { expr: "removeAttrs { a = 1; b = 2; c = 3; d = 4; e = 5; f = 6; g = 7; h = 8; i = 9; j = 10; } [ \"c\" \"a\" \"c\" \"zz\" \"j\" ]", flags: ["--strict"], out: "{ b = 2; d = 4; e = 5; f = 6; g = 7; h = 8; i = 9; }\n" },
  { expr: "builtins.zipAttrsWith (n: v: [ n v ]) [ { b = 1; a = 2; } { c = 3; a = 4; \"é\" = 5; } { } { z = 0; } ]", flags: ["--strict"], out: "{ a = [ \"a\" [ 2 4 ] ]; b = [ \"b\" [ 1 ] ]; c = [ \"c\" [ 3 ] ]; z = [ \"z\" [ 0 ] ]; \"é\" = [ \"é\" [ 5 ] ]; }\n" },
  { expr: "let a = builtins.concatStringsSep \"\" (builtins.genList (i: \"aé\") 100); b = builtins.concatStringsSep \"\" (builtins.genList (i: \"bü\") 100); c = builtins.concatStringsSep \"\" (builtins.genList (i: \"cd\") 150); in [ (builtins.substring 0 6 a) (builtins.substring 3 6 b) (builtins.substring 297 10 a) (builtins.substring 10 4 c) (builtins.stringLength a) (builtins.stringLength c) (builtins.substring 1 3 a) (builtins.substring 1 3 b) ]", flags: ["--strict"], out: "[ \"aéaé\" \"bübü\" \"aé\" \"cdcd\" 300 300 \"éa\" \"üb\" ]\n" },
  // toJSON escapes as nlohmann::json: quotes, backslashes, control characters below 0x20; DEL as it is
  { expr: "builtins.toJSON [ \"plain\" \"q\\\"b\\\\s\" \"nl\\n cr\\r tab\\t\" (builtins.fromJSON \"\\\"\\\\u0001\\\\u001f\\\\u007f\\\\b\\\\f é 😀\\\"\") { \"k\\\"ey\" = \"v\"; } ]", out: "\"[\\\"plain\\\",\\\"q\\\\\\\"b\\\\\\\\s\\\",\\\"nl\\\\n cr\\\\r tab\\\\t\\\",\\\"\\\\u0001\\\\u001f\u007f\\\\b\\\\f \u00e9 \ud83d\ude00\\\",{\\\"k\\\\\\\"ey\\\":\\\"v\\\"}]\"\n" },
  // a substring that cuts a character, compared with valid text (lib's hasPrefix, hasSuffix, removePrefix): the answers Nix gives
  { expr: "let inherit (builtins) substring stringLength; hasPrefix = p: s: substring 0 (stringLength p) s == p; hasSuffix = x: s: let n = stringLength s; m = stringLength x; in n >= m && substring (n - m) n s == x; removePrefix = p: s: if hasPrefix p s then substring (stringLength p) (-1) s else s; in [ (hasPrefix \"a\" \"éclair\") (hasSuffix \"x\" \"café\") (removePrefix \"c\" \"écu\") (hasPrefix \"é\" \"éclair\") (hasSuffix \"é\" \"café\") ]", flags: ["--strict"], out: "[ false false \"écu\" true true ]\n" },
  // set literals: names in byte order, small (insertion-sorted at compile time) and big, some beyond U+D800
  { expr: "builtins.attrValues { z = 1; \"é\" = 2; \"😀\" = 3; \"\" = 4; a = 5; \"\ue000\" = 6; Z = 7; }", flags: ["--strict"], out: "[ 4 7 5 1 2 6 3 ]\n" },
  { expr: "builtins.attrValues { b1 = 1; a1 = 2; \"😀x\" = 3; \"ｚ\" = 4; c = 5; d = 6; e = 7; f = 8; g = 9; h = 10; i = 11; j = 12; k = 13; l = 14; m = 15; n = 16; o = 17; p = 18; \"é\" = 19; \"😀\" = 20; }", flags: ["--strict"], out: "[ 2 1 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 4 20 3 ]\n" },
  { expr: "builtins.attrValues { t = 1; s = 2; r = 3; q = 4; p = 5; o = 6; n = 7; m = 8; l = 9; k = 10; j = 11; i = 12; h = 13; g = 14; f = 15; e = 16; d = 17; c = 18; b = 19; a = 20; }", flags: ["--strict"], out: "[ 20 19 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 ]\n" },
  { expr: "builtins.attrValues (rec { y = 1; x = y; w = 3; v = 4; u = 5; t = 6; s = 7; r = 8; q = 9; p = 10; o = 11; n = 12; m = 13; l = 14; k = 15; j = 16; i = 17; h = 18; \"😀\" = 19; \"é\" = 20; })", flags: ["--strict"], out: "[ 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 1 1 20 19 ]\n" },
  { expr: "{ x, ... }@args: builtins.attrNames args", flags: ["--arg","x","1","--arg","z","2","--strict"], out: "[ \"x\" \"z\" ]\n" },
  { expr: "x: x", flags: ["--arg","x","1"], out: "<LAMBDA>\n" },
  { expr: "{ f = { n }: n * 2; }", flags: ["-A","f","--arg","n","21"], out: "42\n" },
  { expr: "{ a = 1; b = 2; }", flags: ["-A","a","-A","b"], out: "1\n2\n" },
  { expr: "{ __functor = self: { x }: x + 1; }", flags: ["--arg","x","1"], out: "2\n" },
  // errors: exit 1, "error: ..." and no JS stack trace
  { expr: "throw \"boom\"", err: "error: boom" },
  { expr: "abort \"stop\"", err: "error: evaluation aborted with the following error message: 'stop'" },
  { expr: "assert 1 == 2; 3", err: "error: an integer with value '1' is not equal to an integer with value '2'" },
  { expr: "undefinedVar", err: "error: undefined variable 'undefinedVar'" },
  { expr: "{ a = 1; }.b", err: "error: attribute 'b' missing" },
  // listToAttrs: names that ascend, and from the first that does not
  { expr: 'builtins.listToAttrs [ { name = "a"; value = 1; } { name = "b"; } ]', err: "error: attribute 'value' missing" },
  { expr: 'builtins.listToAttrs [ { name = "b"; value = 1; } { name = "a"; } ]', err: "error: attribute 'value' missing" },
  { expr: 'builtins.listToAttrs [ { name = "a"; value = 1; } { name = "a"; } ]', flags: ["--strict"], out: "{ a = 1; }\n" },
  // formals looked up in one pass over a big set
  { expr: "({ a, b, c, d, e, f, g, h, i }: a) { a = 1; b = 2; d = 3; f = 4; g = 5; h = 6; i = 7; j = 8; k = 9; l = 10; }", err: "error: function 'anonymous lambda' called without required argument 'c'" },
  { expr: "({ a, b, d, e, f, g, h, i }: a) { a = 1; b = 2; d = 3; e = 0; f = 4; g = 5; h = 6; i = 7; j = 8; k = 9; l = 10; }", err: "error: function 'anonymous lambda' called with unexpected argument 'j'" },
  { expr: "1 + \"a\"", err: "error: cannot add a string to an integer" },
  { expr: "\"a\" + 1", err: "error: cannot coerce an integer to a string: 1" },
  { expr: "let x = x; in x", err: "error: infinite recursion encountered" },
  { expr: "(x: x) 1 2", err: "error: attempt to call something which is not a function but an integer: 1" },
  { expr: "({ a }: a) { b = 1; }", err: "error: function 'anonymous lambda' called without required argument 'a'" },
  { expr: "({ a }: a) { }", err: "error: function 'anonymous lambda' called without required argument 'a'" },
  { expr: "[1 2", err: "error: syntax error, unexpected end of file" },
  { expr: "1 +", err: "error: syntax error, unexpected end of file" },
  { expr: "{ a = 1; a = 2; }", err: "error: attribute 'a' already defined at «string»:1:3" },
  { expr: "builtins.head [ ]", err: "error: 'builtins.head' called on an empty list" },
  { expr: "builtins.elemAt [ 1 ] 3", err: "error: 'builtins.elemAt' called with index 3 on a list of size 1" },
  { expr: "if 1 then 2 else 3", err: "error: expected a Boolean but found an integer: 1" },
  // Nix says "stack overflow; max-call-depth exceeded", we "stack overflow (possible infinite recursion)"
  { expr: "let f = n: f (n + 1); in f 0", err: /^error: stack overflow/ },
  { expr: "builtins.substring (-1) 1 \"a\"", err: "error: negative start position in 'substring'" },
  { expr: "\"${{}}\"", err: "error: cannot coerce a set to a string: { }" },
  { expr: "\"${x: x}\"", err: "error: cannot coerce a function to a string: «lambda @ «string»:1:4»" },
  { expr: "{ } < { }", err: "error: cannot compare a set with a set; values of that type are incomparable" },
  { expr: "builtins.toJSON (x: x)", err: "error: cannot convert a function to JSON" },
  // Nix reports nlohmann::json's message; only the kind of error is compared
  { expr: "builtins.fromJSON \"{\"", err: /^error: .*parse error/ },
  { expr: "import ./nonexistent.nix", err: `error: path '${FIX}/nonexistent.nix' does not exist` },
  { expr: "\"a\" < 1", err: "error: cannot compare a string with an integer" },
];

for (const c of cases) {
  const name = `${c.expr.replace(/\n/g, "\\n")}${c.flags?.length ? "  [" + c.flags.join(" ") + "]" : ""}`;
  test(name, c.todo ? { todo: c.todo } : {}, () => {
    assertOutcome(evalIn(c.expr, c.flags ?? [], FIX), c);
  });
}

test("error reports carry a position for errors in -E text", () => {
  const r = evalIn("let x = 1; in\n  x + \"a\"", [], FIX);
  assert.equal(r.code, 1);
  assert.match(r.err, /«string»:2:/);
});

test("--show-trace prints the whole trace and no hint", () => {
  const expr = "let f = x: builtins.head x; in f (builtins.map (y: throw \"inner\") [ 1 ])";
  const short = evalIn(expr, [], FIX);
  const full = evalIn(expr, ["--show-trace"], FIX);
  assert.equal(short.code, 1);
  assert.equal(full.code, 1);
  assert.equal(errorLine(full.err), "error: inner");
  assert.ok(full.err.length >= short.err.length);
  assert.ok(!full.err.includes("use '--show-trace'"));
});

/** A small seeded PRNG: rnd(n) is in [0, n). */
function seededRandom(seed: number): (n: number) => number {
  return (n) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
}

test("`//` of sets of any relative sizes equals a Map-based merge (b wins)", () => {
  const rnd = seededRandom(7);
  const pool = ["a", "b", "é", "z", "ab", "x\u{1F600}", "\uFFFF", "m", "n", "q1", "q2", "q3", "r", "s", "t", "u", "v", "w"];
  const mk = (n: number, tag: string) => NixAttrs.fromMap(new Map(Array.from({ length: n }, () => pool[rnd(pool.length)]).map((k) => [k, `${tag}:${k}`] as [string, Lazy])));
  for (let round = 0; round < 500; round++) {
    const a = mk(rnd(3) === 0 ? rnd(18) : rnd(3), "a");
    const b = mk(rnd(3) === 0 ? rnd(18) : rnd(3), "b");
    const got = update(a, b, 1) as NixAttrs;
    const want = NixAttrs.fromMap(new Map([...a.names.map((n, i) => [n, a.values[i]] as [string, Lazy]), ...b.names.map((n, i) => [n, b.values[i]] as [string, Lazy])]));
    assert.deepEqual(got.names, want.names);
    assert.deepEqual(got.values, want.values);
  }
});

test("`//` with one side much smaller (native splices, shared arrays, the loop past 4096 names) equals a Map-based merge", () => {
  const rnd = seededRandom(13);
  const pool = Array.from({ length: 400 }, (_, i) => (i % 7 === 0 ? `\u{1F600}${i}` : i % 5 === 0 ? `é${i}` : `n${i}`));
  // values that are arrays (Nix lists) too: a concat must not spread them
  const mk = (n: number, tag: string) =>
    NixAttrs.fromMap(new Map(Array.from({ length: n }, () => pool[rnd(pool.length)]).map((k) => [k, rnd(2) ? `${tag}:${k}` : [tag, k]] as [string, Lazy])));
  const check = (a: NixAttrs, b: NixAttrs) => {
    const got = update(a, b, 1) as NixAttrs;
    const want = NixAttrs.fromMap(new Map([...a.names.map((n, i) => [n, a.values[i]] as [string, Lazy]), ...b.names.map((n, i) => [n, b.values[i]] as [string, Lazy])]));
    assert.deepEqual(got.names, want.names);
    assert.deepEqual(got.values, want.values);
    for (let i = 0; i < got.values.length; i++) assert.equal(got.values[i], want.values[i]); // the same objects
  };
  for (let round = 0; round < 300; round++) {
    const big = mk(100 + rnd(300), "big");
    const small = mk(rnd(round % 3 === 0 ? 4 : 30), "small");
    check(big, small);
    check(small, big);
    // every small name in the big side: shared names (and values, when the big side wins)
    const sub = NixAttrs.fromMap(new Map(big.names.filter(() => rnd(20) === 0).map((n) => [n, "sub"] as [string, Lazy])));
    check(big, sub);
    check(sub, big);
  }
  // names k0, k3, k6...; with `shift`, every other one moves off the grid (an insert)
  const many = (n: number, tag: string, shift: boolean) =>
    NixAttrs.fromMap(new Map(Array.from({ length: n }, (_, i) => [`k${i * 3 + (shift && i % 2 ? 1 : 0)}`, `${tag}${i}`] as [string, Lazy])));
  for (const shift of [false, true]) {
    check(many(40000, "big", false), many(4500, "small", shift));
    check(many(4500, "small", shift), many(40000, "big", false));
  }
});

test("attribute lookup in big sets: binary search, then the Map index, agree with the names", () => {
  const rnd = seededRandom(11);
  const alphabet = ["a", "b", "z", "é", "\u{1F600}", "\uFFFF", "0", "-", "A"];
  for (let round = 0; round < 40; round++) {
    const m = new Map<string, Lazy>();
    const size = 9 + rnd(200);
    while (m.size < size) {
      let k = "";
      for (let i = 0, n = 1 + rnd(4); i < n; i++) k += alphabet[rnd(alphabet.length)];
      m.set(k, `v:${k}`);
    }
    const set = new NixAttrs(NixAttrs.fromMap(m).names, NixAttrs.fromMap(m).values); // no index yet
    for (let i = 0; i < size; i++) {
      // present and absent names, more lookups than the binary-search phase lasts
      for (const k of [...m.keys()]) assert.equal(set.get(k), `v:${k}`);
      assert.equal(set.get("absent\u{1F600}"), undefined);
      assert.equal(set.get(""), undefined);
    }
  }
});
