// `tvix eval`: evaluate a Nix expression (like nix-instantiate --eval).
import type { Command } from "commander";
import { NotImplementedError } from "../errors";

export function register(program: Command): void {
  program
    .command("eval")
    .description("evaluate a Nix expression (like nix-instantiate --eval)")
    .action(() => {
      throw new NotImplementedError("tvix eval");
    });
}
