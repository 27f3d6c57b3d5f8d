// `tvix config show`: the effective configuration (like nix config show).
import type { Command } from "commander";
import { SETTINGS } from "../../core/config";

export function register(program: Command): void {
  const config = program.command("config").description("show the configuration ($TVIX_HOME/tvix.conf, NIX_CONFIG, --option)");
  config
    .command("show")
    .description("print every setting's effective value")
    .argument("[name]", "print only this setting's value")
    .option("--json", "print a JSON object of name: value")
    .addHelpText(
      "after",
      `
Settings come from $TVIX_HOME/tvix.conf, then $NIX_CONFIG, then --option NAME
VALUE (see docs/configuration.md).

Examples:
  tvix config show
  tvix config show max-jobs
  tvix --option cores 4 config show cores
  NIX_CONFIG='substituters = file:///srv/cache' tvix config show --json`,
    )
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const { settings } = await import("../settings");
      const s = settings();
      if (name !== undefined) {
        if (!SETTINGS[name]) throw new (await import("../errors")).UserError(`unknown setting '${name}'`);
        process.stdout.write(opts.json ? JSON.stringify(s.get(name)) + "\n" : s.get(name) + "\n");
        return;
      }
      if (opts.json) process.stdout.write(JSON.stringify(Object.fromEntries(s.all()), null, 2) + "\n");
      else for (const [k, v] of s.all()) process.stdout.write(`${k} = ${v}\n`);
    });
}
