// Synchronous output for evaluation workers (their process.stdout is async
// and piped through the main thread; fd writes keep order with stderr).
import { writeSync } from "node:fs";
import { isatty } from "node:tty";

export function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s, "utf8");
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

// Like Nix, messages lose their ANSI colour codes when stderr is not a terminal.
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
export function writeErr(s: string): void {
  writeAll(2, isatty(2) ? s : s.replace(ANSI, ""));
}
