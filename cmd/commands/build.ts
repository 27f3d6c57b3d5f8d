// `tvix build`: evaluate and build or substitute a derivation (like nix-build).
import type { Command } from "commander";
import { NotImplementedError } from "../errors";

export function register(program: Command): void {
  program
    .command("build")
    .description("evaluate and build or substitute a derivation (like nix-build)")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      throw new NotImplementedError("tvix build");
    });
}
