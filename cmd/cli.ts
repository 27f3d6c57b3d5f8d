// The command-line interface: one commander program. Each subcommand group
// registers itself from cmd/commands/<group>.ts; heavy modules are imported
// inside the actions so that `tvix --version` stays fast.
import { Command, CommanderError } from "commander";
import { TVIX_VERSION } from "../core/version";
import { reportFatal } from "./errors";
import { initSettings } from "./settings";
import * as configCmd from "./commands/config";
import * as evalCmd from "./commands/eval";
import * as buildCmd from "./commands/build";
import * as replCmd from "./commands/repl";
import * as copyCmd from "./commands/copy";
import * as storeCmd from "./commands/store";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("tvix")
    .description("tvix-ts: a Nix implementation in TypeScript")
    .version(TVIX_VERSION, "-V, --version", "print the version")
    .showSuggestionAfterError(true)
    .configureOutput({
      // commander already prefixes "error: "; keep it to one line
      outputError: (str, write) => write(str.endsWith("\n") ? str : str + "\n"),
    })
    .exitOverride();
  for (const group of [evalCmd, buildCmd, replCmd, copyCmd, storeCmd, configCmd]) group.register(program);
  // subcommands inherit the error/exit behaviour of the root
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
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
