// `tvix store`: store operations (daemon, import, nar, ls, cat, path-info, verify).
import type { Command } from "commander";
import { NotImplementedError } from "../errors";

export function register(program: Command): void {
  program
    .command("store")
    .description("store operations (daemon, import, nar, ls, cat, path-info, verify)")
    .action(() => {
      throw new NotImplementedError("tvix store");
    });
}
