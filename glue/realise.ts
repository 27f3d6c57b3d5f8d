// Import from derivation: an evaluation that reads an output path that is
// not valid yet builds it first, as Nix does with
// allow-import-from-derivation. The evaluator waits (a sync call, see
// sync-calls.ts) while a helper thread writes what the evaluation made to
// the store, builds with builders/ (as `tvix build`) and hands back the
// outputs' contents, which the evaluation then reads.
import { parseNarToTree, type NarNode } from "../core/nar";
import type { BuildSettings } from "../builders/settings";

export interface RealiseRequest {
  storeUrl?: string;
  storeDir: string;
  drvPath: string;
  /** what the evaluation made (the .drv files and sources), as NARs, referenced paths first */
  paths: { storePath: string; references: string[]; ca: string; nar: Uint8Array; narHash: string }[];
  settings: BuildSettings;
  logDir: string;
}

export interface Realised {
  outputs: { path: string; tree: NarNode }[];
}

export async function realiseDerivation(req: RealiseRequest): Promise<Realised> {
  await import("../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../stores/url");
  const { BuildSession } = await import("../builders/session");
  const url = req.storeUrl ?? defaultStoreUrl();
  const store = await openStore(url, { storeDir: req.storeDir });
  try {
    for (const p of req.paths) {
      if (await store.queryPathInfo(p.storePath)) continue;
      await store.addToStore(
        { storePath: p.storePath, narHash: p.narHash, narSize: p.nar.length, references: p.references, signatures: [], ca: p.ca },
        (async function* () {
          yield p.nar;
        })(),
      );
    }
    let session;
    try {
      session = await BuildSession.open({ store, settings: req.settings, logDir: req.logDir, check: false, keepFailed: false, onEvent: () => {}, openStore: (u) => openStore(u, { storeDir: req.storeDir }) });
    } catch (e) {
      throw new Error(`cannot build '${req.drvPath}' during evaluation: ${(e as Error).message}`);
    }
    try {
      const drv = await session.access.derivation(req.drvPath);
      const targets = [{ drvPath: req.drvPath, outputs: [...drv.outputs.keys()] }];
      const summary = await session.run(targets, await session.plan(targets));
      if (summary.failures.length > 0) {
        const f = summary.failures[0];
        const tail = f.logTail.length > 0 ? `;\nlast ${f.logTail.length} log lines:\n${f.logTail.map((l) => `> ${l}`).join("\n")}` : "";
        throw new Error(f.error.message + tail);
      }
      const paths = [...drv.outputs.values()].map((o) => o.path);
      await session.materialise(paths);
      const outputs: Realised["outputs"] = [];
      for (const path of paths) {
        const chunks: Uint8Array[] = [];
        for await (const c of store.narFromPath(path)) chunks.push(c);
        outputs.push({ path, tree: await parseNarToTree(Buffer.concat(chunks)) });
      }
      return { outputs };
    } finally {
      await session.close();
    }
  } finally {
    await store.close();
  }
}
