// `tvix copy`: copy store paths between stores (like nix copy).
import type { Command } from "commander";
import { NotImplementedError } from "../errors";

export function register(program: Command): void {
  program
    .command("copy")
    .description("copy store paths between stores (like nix copy)")
    .action(() => {
      throw new NotImplementedError("tvix copy");
    });
}
