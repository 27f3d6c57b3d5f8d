// `tvix build`: evaluate and build or substitute derivations, like
// nix-build: `[FILE] -A ATTR`, `-E EXPR`, or .drv paths; prints the output
// paths and links ./result to them. `tvix log PATH` shows a build's log.
import type { Command } from "commander";
import { UserError } from "../errors";
import { getPendingArgs } from "./eval";

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function positiveInt(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new UserError(`${name} must be a number, not '${v}'`);
    return Number(v);
  };
}

export function register(program: Command): void {
  program
    .command("build")
    .description("evaluate and build or substitute derivations, link ./result to the outputs (like nix-build)")
    .argument("[paths...]", "a Nix file (default ./default.nix), or .drv paths (drv!output picks an output)")
    .option("-A, --attr <path>", "select an attribute path (repeatable)", collect, [])
    .option("-E, --expr <expr>", "build what EXPR evaluates to")
    .option("-I, --include <path>", "add a search path entry (prefix=path or path)", collect, [])
    .option("-o, --out-link <path>", "name of the result symlink", "result")
    .option("--no-out-link", "do not create a result symlink")
    .option("-L, --print-build-logs", "print the build logs")
    .option("--dry-run", "show what would be built or fetched, and stop")
    .option("--sandbox <kind>", "bwrap (default) or runc")
    .option("-j, --max-jobs <n>", "parallel builds")
    .option("--cores <n>", "NIX_BUILD_CORES for each build (default: all CPUs)")
    .option("-k, --keep-going", "keep building what does not depend on a failed build")
    .option("--timeout <s>", "kill builds that run longer", positiveInt("--timeout"))
    .option("--max-silent-time <s>", "kill builds silent for longer", positiveInt("--max-silent-time"))
    .option("--check", "rebuild the selected derivations and compare with their registered outputs")
    .option("-K, --keep-failed", "keep the scratch directory of failed builds")
    .option("--store <url>", "the store to build into (default $TVIX_STORE or the local store)")
    .option("--substituters <urls>", "space-separated caches to substitute from")
    .option("--trusted-public-keys <keys>", "space-separated keys substitutes must be signed with")
    .option("--no-require-sigs", "accept unsigned substitutes")
    .option("--builders <spec>", "remote build machines, as Nix's builders setting ('ssh-ng://host system - jobs ...; ...' or @FILE; '' for none)")
    .option("--fallback", "with -j 0, build here when every remote machine that could has failed")
    .option("--post-build-upload <url>", "copy each build's outputs and their closure to this store (a binary cache with ?secret-key= signs them)")
    .option("--store-dir <dir>", "the Nix store directory", "/nix/store")
    .option("--show-trace", "show the full evaluation trace on errors")
    .option("--no-progress", "plain log lines even on a terminal")
    .action(async (paths: string[], opts: Record<string, any>) => {
      const { buildCommand } = await import("../build-command");
      process.exitCode = await buildCommand(paths, opts, getPendingArgs());
    });
  program
    .command("log")
    .description("print the log of a build (of a .drv, or of the derivation that built a path)")
    .argument("<path>", "a .drv path or an output path")
    .option("--store <url>", "the store (default $TVIX_STORE or the local store)")
    .option("--store-dir <dir>", "the Nix store directory", "/nix/store")
    .action(async (path: string, opts: Record<string, any>) => {
      const { logCommand } = await import("../build-command");
      process.exitCode = await logCommand(path, opts);
    });
}
