// Target "narinfo": the .narinfo parser (core/narinfo.ts parseNarInfo) on
// mutated narinfos written by Nix. Its own errors are NarInfoError and
// BadStorePath. What it accepts must format and parse back to the same.
import { formatNarInfo, NarInfoError, parseNarInfo } from "../core/narinfo";
import { BadStorePath } from "../core/store-path";
import type { Target } from "./engine";
import { seedFiles } from "./seeds";

const dec = new TextDecoder();

export const narinfoTarget: Target = {
  name: "narinfo",
  seeds: () => seedFiles("narinfo"),
  dictionary: [
    "StorePath: ", "URL: ", "Compression: ", "FileHash: ", "FileSize: ", "NarHash: ", "NarSize: ", "References: ", "Deriver: ", "Sig: ", "CA: ", "System: ",
    "\n", ": ", " ", "sha256:", "sha512:", "md5:", "sha1:", "sha256-", "fixed:r:sha256:", "text:sha256:", "/nix/store/", "-", ".drv", "xz", "none", "18446744073709551616", "-1", "1e3", "0x10", "key:", "==",
  ],
  maxLen: 8 * 1024,
  run(input) {
    const ni = parseNarInfo(dec.decode(input));
    const text = formatNarInfo(ni);
    if (formatNarInfo(parseNarInfo(text)) !== text) throw new Error(`internal error: formatting what was parsed is not stable:\n${text}`);
    return "ok";
  },
  expected: (e) => e instanceof NarInfoError || e instanceof BadStorePath,
};
