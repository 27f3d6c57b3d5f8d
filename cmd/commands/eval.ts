// `tvix eval`: evaluate a Nix expression (like nix-instantiate --eval).
// Evaluation runs on a big-stack worker (cmd/bigstack.ts) so that deeply
// recursive Nix code cannot overflow the JS stack.
import type { Command } from "commander";
import { runEvaluation } from "../bigstack";
import type { EvalRequest } from "../../eval/driver";
import { lazyModule } from "../../core/lazy-module";
import { evalOptions as configuredEvalOptions } from "../settings";

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Adds the nix-instantiate evaluation flags to a command. */
export function evalOptions(c: Command): Command {
  return c
    .option("-E, --expr <expr>", "evaluate EXPR instead of a file")
    .option("-A, --attr <path>", "select an attribute path (repeatable)", collect, [])
    .option("-I, --include <path>", "add a search path entry (prefix=path or path)", collect, [])
    // taken off the command line before commander sees it (two values each): listed here for --help
    .option("--arg <name expr>", "call a function file with NAME set to the Nix expression EXPR (repeatable)")
    .option("--argstr <name string>", "call a function file with NAME set to the string STRING (repeatable)")
    .option("--option <name value>", "set a configuration setting (see tvix config show)")
    .option("--pure-eval", "evaluate purely (the same as --option pure-eval true)")
    .option("--restrict-eval", "restricted evaluation (the same as --option restrict-eval true)")
    .option("--strict", "evaluate deeply (attribute sets and lists fully)")
    .option("--json", "print the result as JSON")
    .option("--raw", "print a string as it is: no quotes, escapes or newline")
    .option("--xml", "print the result as XML")
    .option("--no-location", "omit source positions from XML output")
    .option("--show-trace", "show the full evaluation trace on errors")
    .option("--parse", "only parse the expression")
    .option("--read-write-mode", "write the paths the evaluation creates to the store (and materialise them under the store directory)")
    .option("--eval", "accepted for nix-instantiate compatibility")
    .option("--eval-only", "accepted for nix-instantiate compatibility")
    .option("--timeout <s>", "accepted for nix-instantiate compatibility")
    .option("--store-dir <dir>", "the Nix store directory", "/nix/store")
    .option("-v, --verbose", "more messages (repeatable)", (_: string, n: number) => n + 1, 0)
    .option("--quiet", "fewer messages")
    .option("--store <url>", "the store to read store paths from and write to (default $TVIX_STORE or the local store)");
}

/** The file "-" is standard input: read here, once, and evaluated as an expression. */
export function readStdinFile<T extends Pick<EvalRequest, "file" | "expr">>(req: T): T {
  if (req.file !== "-") return req;
  return { ...req, file: undefined, expr: lazyModule<typeof import("node:fs")>("node:fs").readFileSync(0, "utf8") };
}

/** --arg and --argstr take two values each; commander can't, so they are pulled out first. */
export function extractArgs(argv: string[]): { rest: string[]; args: EvalRequest["args"]; options: Record<string, string> } {
  const rest: string[] = [];
  const args: EvalRequest["args"] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--option") {
      if (argv[i + 2] === undefined) throw new Error(`flag '${a}' requires 2 arguments`);
      options[argv[i + 1]] = argv[i + 2];
      i += 2;
    } else if (a === "--arg" || a === "--argstr") {
      if (argv[i + 2] === undefined) throw new Error(`flag '${a}' requires 2 arguments`);
      args.push({ name: argv[i + 1], kind: a === "--arg" ? "expr" : "str", value: argv[i + 2] });
      i += 2;
    } else rest.push(a);
  }
  return { rest, args, options };
}

export function toRequest(opts: Record<string, any>, files: string[], args: EvalRequest["args"]): EvalRequest {
  if (files.length > 1) throw new Error(`more than one file given: ${files.join(" ")}`);
  return {
    expr: opts.expr,
    file: files[0],
    attrPaths: opts.attr ?? [],
    args,
    nixPath: opts.include ?? [],
    strict: !!opts.strict,
    output: opts.json ? "json" : opts.xml ? "xml" : opts.raw ? "raw" : "nix",
    location: opts.location !== false,
    showTrace: !!opts.showTrace,
    parseOnly: !!opts.parse,
    cwd: process.cwd(),
    storeDir: opts.storeDir,
    options: {
      ...configuredEvalOptions(),
      ...(opts.pureEval ? { "pure-eval": "true" } : {}),
      ...(opts.restrictEval ? { "restrict-eval": "true" } : {}),
    },
    readWrite: !!opts.readWriteMode,
  };
}

// --arg/--argstr pairs found in process argv before commander parses it (set by cli.ts).
let pendingArgs: EvalRequest["args"] = [];
let pendingOptions: Record<string, string> = {};
export function setPendingArgs(a: EvalRequest["args"], options: Record<string, string> = {}): void {
  pendingArgs = a;
  pendingOptions = options;
}
/** The --arg/--argstr pairs and --option settings of this command line. */
export function getPendingArgs(): { args: EvalRequest["args"]; options: Record<string, string> } {
  return { args: pendingArgs, options: pendingOptions };
}

export function register(program: Command): void {
  evalOptions(program.command("instantiate").description("instantiate derivations: write .drv files and print their paths (like nix-instantiate)"))
    .argument("[file]", "the file to evaluate (default ./default.nix; - for stdin)")
    .option("--add-root <path>", "make PATH a symlink to the .drv (PATH-2, ... for more) and print it instead")
    .option("--indirect", "accepted for nix-instantiate compatibility")
    .addHelpText(
      "after",
      `
The .drv files are written to the store (--store, $TVIX_STORE, the store
setting, or local://$TVIX_HOME/store); 'tvix derivation show' prints them.

Examples:
  tvix instantiate -A hello ./default.nix
  tvix instantiate --arg pkgs 'import <nixpkgs> {}' -A hello
  tvix instantiate -E 'derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh"; }'
  tvix instantiate --add-root ./hello.drv -A hello`,
    )
    .action(async (file: string | undefined, opts: Record<string, any>) => {
      const req = readStdinFile({ ...toRequest(opts, file ? [file] : [], pendingArgs), storeUrl: opts.store, addRoot: opts.addRoot ? lazyModule<typeof import("node:path")>("node:path").resolve(opts.addRoot) : undefined });
      const { exitCode } = await runEvaluation(opts.eval ? "eval" : "instantiate", req);
      process.exitCode = exitCode;
    });
  evalOptions(program.command("eval").description("evaluate a Nix expression (like nix-instantiate --eval)"))
    .argument("[file]", "the file to evaluate (default ./default.nix; - for stdin)")
    .addHelpText(
      "after",
      `
Examples:
  tvix eval -E '1 + 1'
  tvix eval --strict --json -E '{ a = [ 1 2 ]; }'
  tvix eval -A lib.version ./default.nix
  tvix eval --argstr name world -E '{ name }: "hello \${name}"'
  echo '"from stdin"' | tvix eval -`,
    )
    .action(async (file: string | undefined, opts: Record<string, any>) => {
      const req = readStdinFile({ ...toRequest(opts, file ? [file] : [], pendingArgs), storeUrl: opts.store });
      const { exitCode } = await runEvaluation("eval", req);
      process.exitCode = exitCode;
    });
}
