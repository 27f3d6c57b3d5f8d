// The command-line interface: one commander program. Each subcommand group
// registers itself from cmd/commands/<group>.ts; heavy modules are imported
// inside the actions so that `tvix --version` stays fast.
import { Command, CommanderError } from "commander";
import { TVIX_VERSION } from "../core/version";
import { reportFatal } from "./errors";
import { initSettings } from "./settings";
import * as configCmd from "./commands/config";
import * as derivationCmd from "./commands/derivation";
import * as completionCmd from "./commands/completion";
import { writeErr } from "./output";
import * as evalCmd from "./commands/eval";
import * as buildCmd from "./commands/build";
import * as replCmd from "./commands/repl";
import * as copyCmd from "./commands/copy";
import * as storeCmd from "./commands/store";

// Examples for the commands whose modules do not add their own (--help).
const EXAMPLES: Record<string, string> = {
  build: "tvix build -A hello\n  tvix build -E 'with import <nixpkgs> {}; hello'\n  tvix build --sandbox runc -j 2 -A hello\n  tvix build /nix/store/...-hello.drv",
  log: "tvix log ./result\n  tvix log /nix/store/...-hello.drv",
  "store gc": "tvix store gc\n  tvix store gc --print-dead\n  tvix store gc --delete /nix/store/...-hello",
  "store roots": "tvix store roots",
  copy: "tvix copy --to file:///srv/cache /nix/store/...-hello\n  tvix copy --from https://cache.nixos.org --to local:///tmp/store /nix/store/...-hello\n  tvix copy --from file:///srv/cache --to file:///mnt/backup --all",
  store: "tvix store import ./dir\n  tvix store path-info -rsSh /nix/store/...-hello",
  "store import": "tvix store import ./src\n  tvix store import --store memory:// a b c",
  "store nar": "tvix store nar /nix/store/...-hello > hello.nar",
  "store ls": "tvix store ls /nix/store/...-hello\n  tvix store ls -l /nix/store/...-hello/bin",
  "store cat": "tvix store cat /nix/store/...-hello/share/doc/README",
  "store verify": "tvix store verify\n  tvix store verify --store local:///srv/tvix/store",
  "store materialise": "tvix store materialise --store-dir /tmp/nix/store /nix/store/...-hello",
  config: "tvix config show\n  tvix config show --json",
  derivation: "tvix derivation show $(tvix instantiate -A hello)",
};

function hasExamples(c: Command): boolean {
  // addHelpText("after", ...) adds an afterHelp listener
  return (c as unknown as NodeJS.EventEmitter).listenerCount("afterHelp") > 0;
}

/** Every command: examples in --help, and -v/--quiet accepted alike. */
function polish(c: Command, path: string[]): void {
  const key = path.join(" ");
  if (key && !hasExamples(c)) {
    const ex = EXAMPLES[key];
    if (ex) c.addHelpText("after", `\nExamples:\n  ${ex}`);
  }
  const has = (flag: string) => c.options.some((o) => o.long === flag || o.short === flag);
  if (key && c.commands.length === 0) {
    if (!has("-v") && !has("--verbose")) c.option("-v, --verbose", "more messages (repeatable)", (_: string, n: number) => n + 1, 0);
    if (!has("--quiet")) c.option("--quiet", "fewer messages");
  }
  for (const s of c.commands) polish(s, [...path, s.name()]);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("tvix")
    .description("tvix-ts: a Nix implementation in TypeScript")
    .addHelpText(
      "after",
      `
Every command takes --option NAME VALUE (see 'tvix config show') and --help.

Examples:
  tvix eval -E '1 + 1'
  tvix instantiate -A hello
  tvix repl
  tvix copy --to file:///srv/cache /nix/store/...-hello
  tvix store path-info -rsSh /nix/store/...-hello

Documentation: docs/getting-started.md, docs/cli/ and docs/configuration.md.`,
    )
    .version(TVIX_VERSION, "-V, --version", "print the version")
    .showSuggestionAfterError(true)
    .configureOutput({
      // commander already prefixes "error: "; keep it to one line
      outputError: (str) => writeErr(str.endsWith("\n") ? str : str + "\n"),
    })
    .exitOverride();
  for (const group of [evalCmd, buildCmd, replCmd, copyCmd, storeCmd, derivationCmd, configCmd, completionCmd]) group.register(program);
  // subcommands inherit the error/exit behaviour of the root
  const inherit = (c: Command) => {
    c.exitOverride().configureOutput(program.configureOutput());
    c.commands.forEach(inherit);
  };
  program.commands.forEach(inherit);
  polish(program, []);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    // --arg/--argstr take two values, which commander cannot express
    const { rest, args, options } = evalCmd.extractArgs(argv);
    evalCmd.setPendingArgs(args, options);
    initSettings(options);
    await program.parseAsync(rest, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed
      return e.exitCode === 0 ? 0 : 1;
    }
    return reportFatal(e);
  }
}
