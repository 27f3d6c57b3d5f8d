// Synchronous output for evaluation workers (their process.stdout is async
// and piped through the main thread; fd writes keep order with stderr).
import { fstatSync, writeSync } from "node:fs";
import { encodeEscapedBytes } from "../core/bytes";

/** Writes s to fd; bytes a Nix string holds that are not UTF-8 (kept as lone surrogates) are written as themselves, as Nix does. */
export function writeAll(fd: number, s: string): void {
  const buf = encodeEscapedBytes(s);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

// Like Nix, messages lose their ANSI colour codes when stderr is not a
// terminal (or NO_COLOR is set). (A character device stands for one: node:tty's isatty would
// load the tty, net and stream modules at every start.)
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
let stderrIsTerminal: boolean | undefined;
export function writeErr(s: string): void {
  if (stderrIsTerminal === undefined) stderrIsTerminal = useColour(2);
  writeAll(2, stderrIsTerminal ? paintMessages(s) : s.replace(ANSI, ""));
}

/**
 * Whether to colour what goes to `stream`: a terminal, and NO_COLOR unset
 * or empty (https://no-color.org), and TERM not "dumb".
 */
export function useColour(stream: { isTTY?: boolean } | number): boolean {
  if (process.env.NO_COLOR) return false;
  if (process.env.TERM === "dumb") return false;
  if (typeof stream === "number") {
    try {
      return fstatSync(stream).isCharacterDevice();
    } catch {
      return false;
    }
  }
  return !!stream.isTTY;
}

/** Nix's colours for the heads of messages: "error:" red, "warning:" magenta, bold. */
export function paintMessages(s: string): string {
  return s.replace(/^(\s*)error:/gm, "$1\x1b[31;1merror:\x1b[0m").replace(/^warning:/gm, "\x1b[35;1mwarning:\x1b[0m");
}
