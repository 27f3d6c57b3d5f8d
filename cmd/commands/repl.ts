// `tvix repl`: interactive Nix read-eval-print loop.
import type { Command } from "commander";
import { NotImplementedError } from "../errors";

export function register(program: Command): void {
  program
    .command("repl")
    .description("interactive Nix read-eval-print loop")
    .action(() => {
      throw new NotImplementedError("tvix repl");
    });
}
