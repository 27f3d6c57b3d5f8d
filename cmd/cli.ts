// The command-line interface: one commander program with the subcommand
// groups. Each group lives in its own module and is loaded lazily so that
// `tvix --version` stays fast.
import { Command, CommanderError } from "commander";
import { TVIX_VERSION } from "./version";
import { NotImplementedError, reportFatal } from "./errors";

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

  program
    .command("eval")
    .description("evaluate a Nix expression (like nix-instantiate --eval)")
    .allowUnknownOption(false)
    .action(() => {
      throw new NotImplementedError("tvix eval");
    });
  program
    .command("build")
    .description("evaluate and build or substitute a derivation (like nix-build)")
    .action(() => {
      throw new NotImplementedError("tvix build");
    });
  program
    .command("repl")
    .description("interactive Nix read-eval-print loop")
    .action(() => {
      throw new NotImplementedError("tvix repl");
    });
  program
    .command("copy")
    .description("copy store paths between stores (like nix copy)")
    .action(() => {
      throw new NotImplementedError("tvix copy");
    });
  const store = program.command("store").description("store operations");
  store
    .command("daemon")
    .description("serve the nix-daemon protocol")
    .action(() => {
      throw new NotImplementedError("tvix store daemon");
    });
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed
      return e.exitCode === 0 ? 0 : 1;
    }
    return reportFatal(e);
  }
}
