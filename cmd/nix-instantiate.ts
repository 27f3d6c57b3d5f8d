// Drop-in `nix-instantiate`: when the binary is invoked under that name (a
// symlink), it takes nix-instantiate's command line, so Nix test scripts run
// against tvix-ts unchanged.
import { resolve } from "node:path";
import { runEvaluation } from "./bigstack";
import { UserError } from "./errors";
import type { InstantiateRequest } from "./instantiate-task";
import { TVIX_VERSION, NIX_COMPAT_VERSION } from "../core/version";
import { readStdinFile } from "./commands/eval";
import { initSettings, evalOptions } from "./settings";

const USAGE = `Usage: nix-instantiate [--eval [--strict] [--json] [--xml] [--raw]] [--parse] [-E EXPR | FILES...]
  [-A ATTRPATH] [--arg NAME EXPR] [--argstr NAME STRING] [-I PATH] [--show-trace]
  [--add-root PATH] [--store URL] [--option NAME VALUE] [-v] [--quiet]
  (tvix-ts ${TVIX_VERSION}, compatible with Nix ${NIX_COMPAT_VERSION})`;

export async function nixInstantiateMain(argv: string[]): Promise<number> {
  const req: InstantiateRequest = {
    attrPaths: [], args: [], nixPath: [], strict: false, output: "nix", location: true,
    showTrace: false, parseOnly: false, cwd: process.cwd(),
  };
  let evalMode = false;
  let fromExpr = false;
  const files: string[] = [];
  const need = (i: number, n: number, flag: string) => {
    if (i + n >= argv.length) throw new UserError(`flag '${flag}' requires ${n} argument${n > 1 ? "s" : ""}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case "--eval": case "--eval-only": evalMode = true; break;
      case "--strict": req.strict = true; break;
      case "--json": req.output = "json"; break;
      case "--xml": req.output = "xml"; break;
      case "--raw": req.output = "raw"; break;
      case "--no-location": req.location = false; break;
      case "--parse": req.parseOnly = true; break;
      case "--show-trace": req.showTrace = true; break;
      case "--read-write-mode": req.readWrite = true; break;
      case "--readonly-mode": req.readWrite = false; break;
      case "--indirect": case "--quiet": case "-Q": case "--no-build-output": case "--verbose": break;
      case "--add-root": need(i, 1, a); req.addRoot = resolve(req.cwd, argv[++i]); break;
      case "--timeout": case "--max-jobs": case "-j": case "--cores": case "--log-format": need(i, 1, a); i++; break;
      case "--pure-eval": (req.options ??= {})["pure-eval"] = "true"; break;
      case "--restrict-eval": (req.options ??= {})["restrict-eval"] = "true"; break;
      case "--option": need(i, 2, a); (req.options ??= {})[argv[i + 1]] = argv[i + 2]; i += 2; break;
      case "-E": case "--expr": fromExpr = true; break;
      case "-A": case "--attr": need(i, 1, a); req.attrPaths.push(argv[++i]); break;
      case "-I": case "--include": need(i, 1, a); req.nixPath.push(argv[++i]); break;
      case "--arg": case "--argstr":
        need(i, 2, a);
        req.args.push({ name: argv[i + 1], kind: a === "--arg" ? "expr" : "str", value: argv[i + 2] });
        i += 2;
        break;
      case "--store": need(i, 1, a); req.storeUrl = argv[++i]; break;
      case "--help": process.stdout.write(USAGE + "\n"); return 0;
      case "--version": process.stdout.write(`nix-instantiate (Nix) ${NIX_COMPAT_VERSION}\n`); return 0;
      default:
        if (/^-v+$/.test(a)) break; // -v, -vv, ...: verbosity takes no argument
        if (a.startsWith("-") && a !== "-") throw new UserError(`unrecognised flag '${a}'`);
        files.push(a);
    }
  }
  if (fromExpr) {
    if (files.length !== 1) throw new UserError("-E requires exactly one expression");
    req.expr = files[0];
  } else if (files.length > 1) {
    throw new UserError(`not implemented: more than one file (${files.join(" ")})`);
  } else req.file = files[0];
  initSettings(req.options ?? {});
  req.options = evalOptions();
  const { exitCode } = await runEvaluation(evalMode || req.parseOnly ? "eval" : "instantiate", readStdinFile(req));
  return exitCode;
}
