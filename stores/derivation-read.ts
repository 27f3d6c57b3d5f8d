// Reading a derivation out of a store: a .drv path's NAR is a single regular
// file holding the ATerm text.
import { type Derivation, parseDerivation } from "../core/derivation";
import { readNar } from "../core/nar";
import type { NixStore } from "./types";

/** Longest .drv file read (nixpkgs' largest are a few hundred KiB). */
const MAX_DRV_BYTES = 64 * 1024 * 1024;

export async function readDerivationText(store: NixStore, drvPath: string): Promise<string> {
  let text: string | null = null;
  await readNar(store.narFromPath(drvPath), {
    directory() {
      throw new Error(`'${drvPath}' is not a regular file, so it is not a derivation`);
    },
    async file(path, _executable, size, contents) {
      if (path.length !== 0) throw new Error(`'${drvPath}' is not a regular file, so it is not a derivation`);
      if (size > MAX_DRV_BYTES) throw new Error(`derivation '${drvPath}' is too large (${size} bytes)`);
      const parts: Uint8Array[] = [];
      for await (const c of contents) parts.push(c);
      text = Buffer.concat(parts).toString("utf8");
    },
    symlink() {
      throw new Error(`'${drvPath}' is a symlink, so it is not a derivation`);
    },
  });
  return text!;
}

export async function readDerivation(store: NixStore, drvPath: string): Promise<Derivation> {
  if (!drvPath.endsWith(".drv")) throw new Error(`path '${drvPath}' is not a derivation`);
  return parseDerivation(await readDerivationText(store, drvPath));
}
