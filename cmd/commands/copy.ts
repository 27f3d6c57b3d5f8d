// `tvix copy`: copy store paths between stores (like nix copy).
import type { Command } from "commander";
import { UserError } from "../errors";

interface CopyFlags {
  from?: string;
  store?: string;
  to?: string;
  all?: boolean;
  checkSigs: boolean;
  trustedPublicKeys?: string;
  jobs: string;
  recursive: boolean;
  progress?: boolean;
}

export function register(program: Command): void {
  program
    .command("copy")
    .description("copy store paths and their closures between stores (like nix copy)")
    .argument("[paths...]", "store paths to copy (with their closures)")
    .option("--from <url>", "source store URL (default: --store / $TVIX_STORE / the local store)")
    .option("--to <url>", "target store URL (default: --store / $TVIX_STORE / the local store)")
    .option("--store <url>", "the default for --from and --to")
    .option("--all", "copy every path of the source store")
    .option("--no-check-sigs", "do not require signatures by trusted keys")
    .option("--trusted-public-keys <keys>", "space-separated public keys: source paths must be signed by one of them (or be content-addressed)")
    .option("-j, --jobs <n>", "parallel transfers", "8")
    .option("--no-recursive", "copy only the given paths, not their closures")
    .option("--no-progress", "plain log lines even on a terminal")
    .action(async (paths: string[], flags: CopyFlags) => runCopy(paths, flags));
}

async function runCopy(paths: string[], flags: CopyFlags): Promise<void> {
  await import("../../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../../stores/url");
  const { copyPaths } = await import("../../stores/copy");
  const { isSignatureChecking, parsePublicKeys } = await import("../../stores/binary-cache");
  const { plainProgress, inkProgress, formatBytes } = await import("../progress");

  if (flags.all && paths.length > 0) throw new UserError("'--all' and explicit paths are mutually exclusive");
  if (!flags.all && paths.length === 0) throw new UserError("nothing to copy: give store paths or --all");
  const jobs = Number(flags.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UserError(`--jobs must be a positive integer, got '${flags.jobs}'`);
  const fromUrl = flags.from ?? flags.store ?? defaultStoreUrl();
  const toUrl = flags.to ?? flags.store ?? defaultStoreUrl();
  if (fromUrl === toUrl) throw new UserError(`source and target are the same store ('${fromUrl}')`);
  let trustedKeys;
  try {
    // the trusted-public-keys setting is the default
    const keys = flags.trustedPublicKeys ?? ((await import("../settings")).settings().get("trusted-public-keys") || undefined);
    trustedKeys = keys ? parsePublicKeys(keys) : undefined;
  } catch (e) {
    throw new UserError(`--trusted-public-keys: ${(e as Error).message}`);
  }

  const src = await openStore(fromUrl);
  let dst;
  try {
    dst = await openStore(toUrl);
  } catch (e) {
    await src.close();
    throw e;
  }
  try {
    if (!flags.checkSigs && isSignatureChecking(src)) src.setCheckSigs(false);
    const roots: string[] = [];
    if (flags.all) for await (const p of src.listPaths()) roots.push(p);
    else for (const p of paths) roots.push(p.startsWith("/") ? p.replace(/\/+$/, "") : `${src.storeDir}/${p}`);
    const tty = process.stdout.isTTY && flags.progress !== false;
    const progress = tty ? await inkProgress(src.url, dst.url) : plainProgress(src.url, dst.url);
    const t0 = Date.now();
    let result;
    try {
      result = await copyPaths(src, dst, roots, {
        jobs,
        recursive: flags.recursive,
        trustedKeys: flags.checkSigs ? trustedKeys : undefined,
        onEvent: (e) => progress.onEvent(e),
      });
    } catch (e) {
      await progress.finish("copy failed");
      throw e;
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    await progress.finish(`copied ${result.copied.length} paths (${formatBytes(result.bytes)}) in ${secs} s; ${result.alreadyPresent.length} already present`);
  } finally {
    await Promise.allSettled([src.close(), dst.close()]);
  }
}
