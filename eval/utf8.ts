// Nix's strings are bytes, ours are JS (UTF-16) strings. Bytes that are not
// UTF-8 (a source file or readFile with such bytes, a substring that cuts a
// character in two) are kept as lone surrogates, byte b as U+DC00 + b
// (U+DC80..U+DCFF, as Python's "surrogateescape"). Where a string becomes
// bytes again (lengths and offsets, toJSON, hashes, the printed output) they
// are that byte, so two pieces of a cut character joined back are the
// character's bytes there. Strings compared as JS strings (==, <, attribute
// names) are not joined back: see docs/evaluator.md.
//
// Such strings are rare: until one is made (`rawBytes.seen`) nothing looks
// for them.
import { isUtf8 } from "node:buffer";
import { encodeEscapedBytes } from "../core/bytes";

/** Whether a string with raw bytes was ever made in this process. */
export const rawBytes = { seen: false };

// a low surrogate from U+DC80 up that no high surrogate comes before
const RAW = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** Whether s holds raw (non-UTF-8) bytes. */
export function hasRawBytes(s: string): boolean {
  return rawBytes.seen && RAW.test(s);
}

/** Bytes as a string: UTF-8 decoded, bytes that are not UTF-8 kept as raw bytes. */
export function decodeBytes(b: Uint8Array): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
  if (isUtf8(buf)) return buf.toString("utf8");
  rawBytes.seen = true;
  let out = "";
  let i = 0;
  let start = 0; // the valid run not yet copied
  while (i < buf.length) {
    const n = validSequence(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > start) out += buf.toString("utf8", start, i);
    out += String.fromCharCode(0xdc00 + buf[i]);
    start = ++i;
  }
  if (i > start) out += buf.toString("utf8", start, i);
  return out;
}

/** The length of the valid UTF-8 sequence at b[i] (0: none), by the Unicode standard's table. */
function validSequence(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** A string's bytes: UTF-8, raw bytes as themselves. */
export function encodeBytes(s: string): Buffer {
  if (!hasRawBytes(s)) return Buffer.from(s);
  return encodeEscapedBytes(s);
}

/** s with raw bytes that make up characters joined into them (only done where strings are joined in bulk: concatStringsSep). */
export function joinRawBytes(s: string): string {
  return hasRawBytes(s) ? decodeBytes(encodeBytes(s)) : s;
}

/** The number of bytes of s. */
export function byteCount(s: string): number {
  return hasRawBytes(s) ? encodeBytes(s).length : Buffer.byteLength(s);
}

/**
 * nlohmann::json's complaint (Nix's toJSON) about a string whose bytes are
 * not UTF-8, or null; `text` gets the string with its raw bytes joined back.
 */
export function utf8Complaint(s: string): { error: string } | { text: string } {
  const b = encodeBytes(s);
  let i = 0;
  while (i < b.length) {
    const n = validSequence(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    // where nlohmann's decoder rejects: the lead byte, or the first byte that does not continue it
    let at = i;
    const c = b[i];
    const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (need > 0) {
      at = i + 1;
      while (at < b.length && at <= i + need && validPrefix(b, i, at)) at++;
      if (at >= b.length) return { error: `incomplete UTF-8 string; last byte: 0x${hex(b[b.length - 1])}` };
    }
    return { error: `invalid UTF-8 byte at index ${at}: 0x${hex(b[at])}` };
  }
  return { text: b.toString("utf8") };
}

/** Whether b[i..at] can still begin a valid sequence. */
function validPrefix(b: Uint8Array, i: number, at: number): boolean {
  const c = b[i];
  const x = b[at];
  if (at === i + 1) {
    if (c === 0xe0) return x >= 0xa0 && x <= 0xbf;
    if (c === 0xed) return x >= 0x80 && x <= 0x9f;
    if (c === 0xf0) return x >= 0x90 && x <= 0xbf;
    if (c === 0xf4) return x >= 0x80 && x <= 0x8f;
  }
  return x >= 0x80 && x <= 0xbf;
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, "0");
}
