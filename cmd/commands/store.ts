// `tvix store`: store operations on castore stores (import, nar, ls, cat,
// path-info, verify, materialise), the nix-daemon listener (`daemon`) and
// the garbage collector (`gc`, `roots`); their logic is in daemon/.
import type { Command } from "commander";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { UserError } from "../errors";

async function openAny(url: string | undefined) {
  await import("../../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../../stores/url");
  return openStore(url ?? defaultStoreUrl());
}

async function openCastore(url: string | undefined, what: string) {
  const store = await openAny(url);
  const { CastoreNixStore } = await import("../../stores/castore-store");
  if (!(store instanceof CastoreNixStore)) {
    await store.close();
    throw new UserError(`'tvix store ${what}' needs a castore store (local:// or memory://), not '${store.url}'`);
  }
  return store;
}

async function writeStdout(chunks: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const c of chunks) if (!process.stdout.write(c)) await once(process.stdout, "drain");
}

/** Splits "/nix/store/<base>/a/b" into the store path and its sub-path components. */
function splitStorePath(arg: string, storeDir: string): { storePath: string; sub: string[] } {
  const prefix = storeDir.endsWith("/") ? storeDir : storeDir + "/";
  if (!arg.startsWith(prefix)) throw new UserError(`path '${arg}' is not in the Nix store ${storeDir}`);
  const [base, ...sub] = arg.slice(prefix.length).split("/").filter((c) => c !== "");
  if (!base) throw new UserError(`path '${arg}' is not a store path`);
  return { storePath: prefix + base, sub };
}

async function resolveNode(arg: string, url: string | undefined) {
  const store = await openCastore(url, "ls/cat");
  const { storePath, sub } = splitStorePath(arg, store.storeDir);
  const info = await store.pathInfo(storePath).catch((e: Error) => {
    throw new UserError(e.message);
  });
  if (!info) throw new UserError(`path '${storePath}' is not valid in store '${store.url}'`);
  const { directoryEntries } = await import("../../core/castore");
  let node = info.node;
  const dec = new TextDecoder();
  for (let i = 0; i < sub.length; i++) {
    if (node.type !== "directory") throw new UserError(`'${[storePath, ...sub.slice(0, i)].join("/")}' is not a directory`);
    const dir = await store.directories.get(node.digest);
    if (!dir) throw new Error(`directory of '${[storePath, ...sub.slice(0, i)].join("/")}' is missing from the store`);
    const next = directoryEntries(dir).find((e) => dec.decode(e.name) === sub[i]);
    if (!next) throw new UserError(`path '${[storePath, ...sub.slice(0, i + 1)].join("/")}' does not exist`);
    node = next;
  }
  return { store, node, path: [storePath, ...sub].join("/") };
}

/** The configuration with the daemon's own file: --config FILE, else $TVIX_HOME/daemon.conf if it exists. */
async function daemonConfig(file?: string) {
  const { settingsWithFiles, httpLimitsFrom } = await import("../settings");
  const { tvixHome } = await import("../../stores/url");
  const config = settingsWithFiles([file ? { path: file, required: true } : { path: join(tvixHome(), "daemon.conf"), required: false }]);
  // the daemon's downloads (substitution) take their timeouts from its file too
  const limits = httpLimitsFrom(config);
  (await import("../../stores/http")).setHttpLimitsSource(async () => limits);
  return config;
}

function withStore(c: Command): Command {
  return c.option("--store <url>", "the store URL (default: $TVIX_STORE or local://$TVIX_HOME/store)");
}

export function register(program: Command): void {
  const store = program.command("store").description("store operations (daemon, gc, roots, import, nar, ls, cat, path-info, verify, materialise)");

  withStore(store.command("daemon"))
    .description("serve the nix-daemon protocol to Nix clients (nix, nix-store, nix-build: --store unix://SOCKET?root=DIR)")
    .option("--listen <url>", "the socket to listen on (unix:///path; default $TVIX_HOME/daemon-socket/socket)")
    .option("--stdio", "serve one client on stdin/stdout (for ssh-ng:// and remote-program)")
    .option("--root <dir>", "file system root for the paths as files and the GC state (default: the local store's ?root=, else $TVIX_HOME/daemon-root)")
    .option("--config <file>", "settings in nix.conf format (default $TVIX_HOME/daemon.conf if it exists)")
    .option("--force-trusted", "trust every client")
    .option("--force-untrusted", "trust no client")
    .option("-v, --verbose", "log each connection")
    .addHelpText(
      "after",
      "\nSettings as nix-daemon's: --option NAME VALUE (trusted-users, allowed-users, trusted-public-keys, require-sigs,\nsubstituters, trusted-substituters, keep-outputs, keep-derivations), repeatable.\n\nExamples:\n  tvix store daemon\n  tvix store daemon --listen unix:///tmp/tvix.sock --store local:///srv/tvix/store\n  nix-store --store 'unix:///tmp/tvix.sock?root=/srv/tvix/root' -q --references /nix/store/...-hello",
    )
    .action(async (opts: { store?: string; listen?: string; stdio?: boolean; root?: string; config?: string; forceTrusted?: boolean; forceUntrusted?: boolean; verbose?: boolean }) => {
      if (opts.stdio && opts.listen) throw new UserError("--stdio and --listen exclude each other");
      if (opts.forceTrusted && opts.forceUntrusted) throw new UserError("--force-trusted and --force-untrusted exclude each other");
      const { runDaemon } = await import("../../daemon/main");
      const { TVIX_VERSION } = await import("../../core/version");
      const log = (m: string) => process.stderr.write(m + "\n");
      await runDaemon({
        storeUrl: opts.store,
        root: opts.root,
        config: await daemonConfig(opts.config),
        listen: opts.listen,
        stdio: opts.stdio,
        forceTrusted: opts.forceTrusted ? true : opts.forceUntrusted ? false : undefined,
        verbose: opts.verbose,
        nixVersion: `tvix-ts ${TVIX_VERSION}`,
        warn: (m) => log(`warning: ${m}`),
        log,
      });
      // a --stdio daemon ends with its client, whatever an abandoned build left running
      if (opts.stdio) process.exit(process.exitCode ?? 0);
    });

  withStore(store.command("gc"))
    .description("delete unreachable store paths, like nix-store --gc (through the daemon for unix:// stores)")
    .option("--root <dir>", "file system root holding the GC roots (default: the local store's ?root=)")
    .option("--max-freed <bytes>", "stop after freeing this many bytes")
    .option("--print-live", "print the live paths instead of deleting")
    .option("--print-dead", "print the dead paths instead of deleting")
    .option("--delete <paths...>", "delete these paths (each must be dead)")
    .action(async (opts: { store?: string; root?: string; maxFreed?: string; printLive?: boolean; printDead?: boolean; delete?: string[] }) => {
      const action = opts.printLive ? "return-live" : opts.printDead ? "return-dead" : opts.delete ? "delete-specific" : "delete-dead";
      const maxFreed = opts.maxFreed === undefined ? undefined : Number(opts.maxFreed);
      if (maxFreed !== undefined && !(maxFreed >= 0)) throw new UserError(`--max-freed expects a number of bytes, got '${opts.maxFreed}'`);
      const log = (m: string) => process.stderr.write(m + "\n");
      const url = opts.store;
      let res;
      if (url && /^(unix|daemon):/.test(url) || url === "daemon") {
        const s = await openAny(url);
        const { DaemonStore } = await import("../../stores/daemon-client");
        try {
          res = await (s as InstanceType<typeof DaemonStore>).collectGarbage(action, opts.delete ?? [], maxFreed);
        } finally {
          await s.close();
        }
      } else {
        const { runGc } = await import("../../daemon/main");
        res = await runGc({ storeUrl: url, root: opts.root, config: await daemonConfig(), action, paths: opts.delete, maxFreed, warn: log, log }).catch((e: Error) => {
          throw new UserError(e.message);
        });
      }
      if (action === "return-live" || action === "return-dead") for (const p of res.paths) process.stdout.write(p + "\n");
      else process.stderr.write(`${res.paths.length} store paths deleted, ${(res.bytesFreed / (1024 * 1024)).toFixed(2)} MiB freed\n`);
    });

  withStore(store.command("roots"))
    .description("print the garbage collector roots as 'link -> path', like nix-store --gc --print-roots")
    .option("--root <dir>", "file system root holding the GC roots (default: the local store's ?root=)")
    .action(async (opts: { store?: string; root?: string }) => {
      const url = opts.store;
      let pairs: [string, string][];
      if (url && /^(unix|daemon):/.test(url) || url === "daemon") {
        const s = await openAny(url);
        const { DaemonStore } = await import("../../stores/daemon-client");
        try {
          pairs = await (s as InstanceType<typeof DaemonStore>).findRoots();
        } finally {
          await s.close();
        }
      } else {
        const { listRoots } = await import("../../daemon/main");
        const log = (m: string) => process.stderr.write(m + "\n");
        pairs = await listRoots({ storeUrl: url, root: opts.root, config: await daemonConfig(), warn: log, log }).catch((e: Error) => {
          throw new UserError(e.message);
        });
      }
      for (const [l, p] of pairs) process.stdout.write(`${l} -> ${p}\n`);
    });

  withStore(store.command("import"))
    .description("add files or directories to the store like nix-store --add; prints their store paths")
    .argument("<paths...>", "files or directories")
    .action(async (paths: string[], opts: { store?: string }) => {
      const s = await openCastore(opts.store, "import");
      const { ingestPath } = await import("../../stores/nar-bridge");
      try {
        for (const p of paths) {
          const abs = resolve(p);
          if (!existsSync(abs)) throw new UserError(`path '${p}' does not exist`);
          const info = await ingestPath(s, abs, s.storeDir);
          await s.registerPath(info);
          process.stdout.write(info.storePath + "\n");
        }
      } finally {
        await s.close();
      }
    });

  withStore(store.command("nar"))
    .description("write the NAR of a store path to stdout")
    .argument("<path>", "store path")
    .action(async (path: string, opts: { store?: string }) => {
      const s = await openAny(opts.store);
      try {
        if (!(await s.queryPathInfo(path))) throw new UserError(`path '${path}' is not valid in store '${s.url}'`);
        await writeStdout(s.narFromPath(path));
      } finally {
        await s.close();
      }
    });

  withStore(store.command("ls"))
    .description("list a directory (or show a file) inside a store path")
    .argument("<path>", "store path, optionally followed by /sub/path")
    .option("-l, --long", "show type, permissions and sizes")
    .action(async (path: string, opts: { store?: string; long?: boolean }) => {
      const { store: s, node } = await resolveNode(path, opts.store);
      const { directoryEntries } = await import("../../core/castore");
      const dec = new TextDecoder();
      const line = (n: typeof node, name: string): string => {
        if (!opts.long) return name;
        if (n.type === "directory") return `dr-xr-xr-x ${"0".padStart(12)} ${name}`;
        if (n.type === "file") return `${n.executable ? "-r-xr-xr-x" : "-r--r--r--"} ${String(n.size).padStart(12)} ${name}`;
        return `lrwxrwxrwx ${"0".padStart(12)} ${name} -> ${dec.decode(n.target)}`;
      };
      try {
        if (node.type !== "directory") {
          process.stdout.write(line(node, path.replace(/\/+$/, "").split("/").pop()!) + "\n");
          return;
        }
        const dir = await s.directories.get(node.digest);
        if (!dir) throw new Error(`directory of '${path}' is missing from the store`);
        for (const e of directoryEntries(dir)) process.stdout.write(line(e, dec.decode(e.name)) + "\n");
      } finally {
        await s.close();
      }
    });

  withStore(store.command("cat"))
    .description("write the contents of a file inside a store path to stdout")
    .argument("<path>", "store path followed by /sub/path of a file")
    .action(async (path: string, opts: { store?: string }) => {
      const { store: s, node } = await resolveNode(path, opts.store);
      try {
        if (node.type === "directory") throw new UserError(`'${path}' is a directory`);
        if (node.type === "symlink") throw new UserError(`'${path}' is a symlink to '${new TextDecoder().decode(node.target)}'`);
        const contents = await s.blobs.open(node.digest);
        if (!contents) throw new Error(`the contents of '${path}' are missing from the store`);
        await writeStdout(contents);
      } finally {
        await s.close();
      }
    });

  withStore(store.command("path-info"))
    .description("show metadata of store paths (like nix path-info)")
    .argument("<paths...>", "store paths")
    .option("--json", "print Nix 2.26's JSON: an object keyed by path, hashes in SRI form")
    .option("-r, --recursive", "include the closure (all references, recursively)")
    .option("-s, --size", "print the NAR size of each path")
    .option("-S, --closure-size", "print the size of each path's closure")
    .option("-h, --human-readable", "sizes as KiB, MiB...")
    .option("--sigs", "print the signatures")
    .addHelpText("after", "\nExamples:\n  tvix store path-info -r /nix/store/...-hello\n  tvix store path-info -sSh /nix/store/...-hello\n  tvix store path-info --json --store file:///srv/cache /nix/store/...-hello")
    .action(async (paths: string[], opts: { store?: string; json?: boolean; recursive?: boolean; size?: boolean; closureSize?: boolean; humanReadable?: boolean; sigs?: boolean }) => {
      const s = await openAny(opts.store);
      const { collectPathInfos, pathInfoToJson } = await import("../../stores/path-info-cli");
      const { humanSize } = await import("../../core/derivation-json");
      try {
        const infos = await collectPathInfos(s, paths, !!opts.recursive);
        const closureSize = async (p: string) => (await collectPathInfos(s, [p], true)).reduce((a, i) => a + i.narSize, 0);
        if (opts.json) {
          const out: Record<string, unknown> = {};
          for (const i of infos) out[i.storePath] = pathInfoToJson(i, opts.closureSize ? await closureSize(i.storePath) : undefined);
          process.stdout.write(JSON.stringify(out) + "\n");
          return;
        }
        const size = (n: number) => "\t" + (opts.humanReadable ? humanSize(n) : String(n).padStart(11));
        for (const i of infos) {
          let line = i.storePath;
          if (opts.size) line += size(i.narSize);
          if (opts.closureSize) line += size(await closureSize(i.storePath));
          if (opts.sigs) line += "\t" + i.signatures.join(" ");
          process.stdout.write(line + "\n");
        }
      } finally {
        await s.close();
      }
    });

  withStore(store.command("verify"))
    .description("recheck every path's NAR hash from castore, and every stored object (loose and in packs)")
    .action(async (opts: { store?: string }) => {
      const s = await openCastore(opts.store, "verify");
      const { verifyStore } = await import("../../stores/verify");
      try {
        const r = await verifyStore(s, (m) => process.stderr.write(`corrupt: ${m}\n`));
        const temps = r.strayTempFiles ? `, removed ${r.strayTempFiles} stray temp file(s)` : "";
        if (r.problems.length > 0)
          throw new UserError(`store '${s.url}' is corrupt: ${r.problems.length} problem(s) in ${r.paths} path(s) and ${r.chunks} chunk(s)${temps}`);
        process.stderr.write(`verified ${r.paths} path(s) and ${r.chunks} chunk(s) (${r.packs} pack(s)): all good${temps}\n`);
      } finally {
        await s.close();
      }
    });

  withStore(store.command("materialise"))
    .alias("materialize")
    .description("write store paths out of castore as real trees under a store directory")
    .argument("<paths...>", "store paths")
    .requiredOption("--to <dir>", "the store directory to write to")
    .action(async (paths: string[], opts: { store?: string; to: string }) => {
      const s = await openCastore(opts.store, "materialise");
      const { materialise } = await import("../../stores/materialise");
      try {
        for (const p of paths) process.stdout.write((await materialise(s, p, resolve(opts.to))) + "\n");
      } finally {
        await s.close();
      }
    });

  for (const c of store.commands) c.exitOverride().configureOutput(program.configureOutput());
  store.exitOverride().configureOutput(program.configureOutput());
}
