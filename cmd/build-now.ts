// Builds derivations on behalf of something other than `tvix build` (the
// repl's :b): what the evaluation made is written to the store, then the
// same BuildSession as `tvix build` plans, substitutes, builds and writes
// the outputs out under the store directory.
import type { StoreIO } from "../glue/store-io";
import type { ReplBuilds } from "../eval/repl";
import { commandBuildSettings, formatFailure, logDir } from "./build-command";
import { plainBuildProgress } from "./build-progress";

/** :b and :log for a repl whose evaluation records its writes in `io`. */
export function replBuilds(io: StoreIO, storeUrl: string | undefined, write: (s: string) => void): ReplBuilds {
  return {
    async build(drvPath) {
      await import("../stores/backends");
      const { openStore, defaultStoreUrl } = await import("../stores/url");
      const { BuildSession } = await import("../builders/session");
      const { flushPending } = await import("../glue/flush");
      const url = storeUrl ?? defaultStoreUrl();
      const storeDir = io.storeDir;
      const store = await openStore(url, { storeDir });
      try {
        await flushPending(io, url, { store });
        const progress = plainBuildProgress(false, write);
        const session = await BuildSession.open({
          store,
          settings: await commandBuildSettings({}),
          logDir: await logDir(),
          check: false,
          keepFailed: false,
          onEvent: (e) => progress.onEvent(e),
          openStore: (u) => openStore(u, { storeDir }),
        });
        try {
          const drv = await session.access.derivation(drvPath);
          const targets = [{ drvPath, outputs: [...drv.outputs.keys()] }];
          const summary = await session.run(targets, await session.plan(targets));
          if (summary.failures.length > 0) throw new Error(summary.failures.map((f) => formatFailure(f, false).replace(/^error: /, "")).join(""));
          const outs: [string, string][] = [...drv.outputs].map(([name, o]) => [name, o.path]);
          await session.materialise(outs.map(([, p]) => p));
          return outs;
        } finally {
          await session.close();
        }
      } finally {
        await store.close();
      }
    },
    async log(drvPath) {
      const { LogStore } = await import("../builders/logs");
      const text = new LogStore(await logDir()).read(drvPath);
      return text ? { text: Buffer.from(text).toString("utf8"), from: "local" } : null;
    },
  };
}
