// Source positions as numbers, like C++ Nix's PosIdx: every parsed source
// (file or expression text) gets a range of one position space, and a
// position is its base plus the offset into the text. The parser makes no
// object per node and closures capture a number; the file, line and column
// are worked out only when an error, a trace or unsafeGetAttrPos needs them.
import type { Pos, SourcePos } from "./ast";

interface Origin {
  base: number;
  file: string;
  text: string;
  /** Offsets of the first character of each line, made on first use. */
  lineStarts: number[] | null;
}

const origins: Origin[] = [];
// position 0 is never handed out, so a Pos is never falsy
let nextBase = 1;

/** Registers a source text; returns the position of its first character. */
export function addOrigin(file: string, text: string): Pos {
  const base = nextBase;
  // one past the end is a position too (the end of the text)
  nextBase += text.length + 1;
  origins.push({ base, file, text, lineStarts: null });
  return base;
}

function originOf(p: Pos): Origin | undefined {
  let lo = 0;
  let hi = origins.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (origins[mid].base <= p) lo = mid;
    else hi = mid - 1;
  }
  const o = origins[lo];
  return o !== undefined && o.base <= p && p <= o.base + o.text.length ? o : undefined;
}

/** The file ("" for -E and stdin), line and column (both 1-based, columns in characters) of a position. */
export function sourcePos(p: Pos): SourcePos {
  const o = originOf(p);
  if (o === undefined) return { file: "", line: 1, column: 1 };
  const offset = p - o.base;
  const ls = o.lineStarts ?? (o.lineStarts = lineStartsOf(o.text));
  let lo = 0;
  let hi = ls.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ls[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { file: o.file, line: lo + 1, column: offset - ls[lo] + 1 };
}

/** The file of a position ("" for -E and stdin). */
export function fileOf(p: Pos): string {
  return originOf(p)?.file ?? "";
}

/** The lines of the text a position is in (for error snippets), if it is known. */
export function linesOf(p: Pos): string[] | undefined {
  return originOf(p)?.text.split("\n");
}

function lineStartsOf(s: string): number[] {
  const starts = [0];
  for (let k = s.indexOf("\n"); k >= 0; k = s.indexOf("\n", k + 1)) starts.push(k + 1);
  return starts;
}
