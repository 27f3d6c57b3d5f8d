// `tvix derivation show`: derivations as Nix 2.26's JSON (like nix
// derivation show), read from the store (--store, $TVIX_STORE, the local
// default), or from the file system where the store lacks them.
import type { Command } from "commander";
import { UserError } from "../errors";
import { lazyModule } from "../../core/lazy-module";

async function readDrv(store: import("../../stores/types").NixStore, drvPath: string): Promise<string> {
  const { readNar } = await import("../../core/nar");
  if (await store.queryPathInfo(drvPath)) {
    const parts: Uint8Array[] = [];
    await readNar(store.narFromPath(drvPath), {
      async file(path, _exe, _size, contents) {
        if (path.length !== 0) throw new UserError(`'${drvPath}' is not a derivation file`);
        for await (const c of contents) parts.push(c);
      },
      directory() {
        throw new UserError(`'${drvPath}' is a directory, not a derivation`);
      },
      symlink() {
        throw new UserError(`'${drvPath}' is a symlink, not a derivation`);
      },
    });
    return Buffer.concat(parts).toString("utf8");
  }
  const { readFileSync, existsSync } = lazyModule<typeof import("node:fs")>("node:fs");
  if (existsSync(drvPath)) return readFileSync(drvPath, "utf8");
  throw new UserError(`path '${drvPath}' is not valid in store '${store.url}' (nor on this machine)`);
}

export function register(program: Command): void {
  const derivation = program.command("derivation").description("work with derivations (.drv files)");
  derivation
    .command("show")
    .description("print derivations as JSON (like nix derivation show)")
    .argument("<paths...>", "store paths of .drv files (as tvix instantiate prints them)")
    .option("-r, --recursive", "include the derivations they depend on, recursively")
    .option("--store <url>", "the store to read them from (default: $TVIX_STORE or the local store)")
    .addHelpText(
      "after",
      `
Examples:
  tvix derivation show $(tvix instantiate -A hello)
  tvix derivation show -r /nix/store/...-hello.drv | jq 'keys'`,
    )
    .action(async (paths: string[], opts: { recursive?: boolean; store?: string }) => {
      await import("../../stores/backends");
      const { openStore, defaultStoreUrl } = await import("../../stores/url");
      const { parseDerivation } = await import("../../core/derivation");
      const { derivationToJson } = await import("../../core/derivation-json");
      const store = await openStore(opts.store ?? defaultStoreUrl());
      try {
        const out: Record<string, unknown> = {};
        const queue = [...paths];
        while (queue.length > 0) {
          const p = queue.shift()!;
          if (p in out) continue;
          const m = /^.*\/[0-9a-z]{32}-(.+)\.drv$/.exec(p);
          if (!m) throw new UserError(`'${p}' is not the store path of a derivation (.drv)`);
          let drv;
          try {
            drv = parseDerivation(await readDrv(store, p));
          } catch (e) {
            if (e instanceof UserError) throw e;
            throw new UserError(`${p}: ${(e as Error).message}`);
          }
          out[p] = derivationToJson(drv, m[1]);
          if (opts.recursive) queue.push(...drv.inputDrvs.keys());
        }
        const sorted = Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
        process.stdout.write(JSON.stringify(sorted, null, 2) + "\n");
      } finally {
        await store.close();
      }
    });
}
