// mkdir -p without Node's recursive mkdirSync, which loops forever where
// mkdir fails with ENOENT for a reason other than a missing parent (under
// /proc, e.g. XDG_CACHE_HOME=/proc/x): one level at a time, failing at once.
// With `mode`, every level it creates gets exactly that mode (chmod, so the
// process umask does not matter: at umask 000 mkdir would make 0777).
import { chmodSync, mkdirSync, statSync } from "node:fs";

export function mkdirs(dir: string, mode?: number): void {
  try {
    if (statSync(dir).isDirectory()) return;
  } catch {
    /* made below */
  }
  let p = dir.startsWith("/") ? "" : ".";
  for (const part of dir.split("/").filter(Boolean)) {
    p += "/" + part;
    try {
      mkdirSync(p);
      if (mode !== undefined) chmodSync(p, mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  if (!statSync(dir).isDirectory()) throw new Error(`'${dir}' is not a directory`);
}
