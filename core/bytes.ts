// Small byte-array helpers shared by the formats and the stores.

/** Concatenates chunks whose total length is known. */
export function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// Nix strings are bytes; the evaluator keeps a byte that is not part of valid
// UTF-8 as a lone low surrogate U+DC00 + byte (eval/utf8.ts). These turn such
// strings back into their bytes wherever text becomes bytes (hashes, store
// files), so no byte is silently replaced by U+FFFD.
const ANY_ESCAPED = /[\uDC80-\uDCFF]/;
const LONE_ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** Whether s holds bytes kept as lone surrogates. */
export function hasEscapedBytes(s: string): boolean {
  return ANY_ESCAPED.test(s) && LONE_ESCAPED.test(s);
}

/** s's bytes: UTF-8, each lone surrogate U+DC80..U+DCFF as the byte it stands for. */
export function encodeEscapedBytes(s: string): Buffer {
  if (!hasEscapedBytes(s)) return Buffer.from(s);
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff && !(i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff)) {
      if (i > start) parts.push(Buffer.from(s.slice(start, i)));
      parts.push(Buffer.of(c - 0xdc00));
      start = i + 1;
    }
  }
  if (start < s.length) parts.push(Buffer.from(s.slice(start)));
  return Buffer.concat(parts);
}
