// The post-build upload: after each build, its outputs and whatever of
// their closure the target store lacks are copied there (references
// first), as a `post-build-hook` running `nix copy --to URL $OUT_PATHS`
// would. A binary cache opened with `?secret-key=FILE` signs what it gets,
// so that other machines can substitute from it with the matching public
// key. Each path is checked and sent once per session, however many builds
// share it.
import type { NixStore } from "../stores/types";
import type { StoreAccess } from "./store-access";
import { copyPaths } from "../stores/copy";
import { referencesFirst } from "./remote";

export class Uploader {
  private readonly done = new Map<string, Promise<void>>();

  constructor(private readonly access: StoreAccess, readonly target: NixStore) {}

  /** Copies the closure of `paths` to the target. */
  async upload(paths: readonly string[]): Promise<void> {
    const closure = await this.access.closure(paths);
    const order = referencesFirst([...closure.keys()], closure);
    // each path waits for its references' uploads (started in this order)
    const jobs: Promise<void>[] = [];
    for (const p of order) {
      const running = this.done.get(p);
      if (running) {
        jobs.push(running);
        continue;
      }
      const refs = closure.get(p)!.references.filter((r) => r !== p);
      const job = (async () => {
        await Promise.all(refs.map((r) => this.done.get(r)));
        if (await this.target.queryPathInfo(p)) return;
        await copyPaths(this.access.store, this.target, [p], { recursive: false });
      })();
      // a failed upload is tried again by the next build that needs it
      job.catch(() => this.done.delete(p));
      this.done.set(p, job);
      jobs.push(job);
    }
    await Promise.all(jobs);
  }
}
