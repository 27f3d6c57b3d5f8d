// Nix's base-32 encoding ("nix32"): the alphabet omits e, o, u and t, and the
// bytes are consumed from the end, so the encoding is not RFC 4648 base32.
const ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

export function nixBase32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

const ALPHABET_CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));

export function encodeNixBase32(bytes: Uint8Array): string {
  const len = nixBase32Length(bytes.length);
  // character codes first, one string at the end (not a string per character: hashes are formatted per path)
  const codes: number[] = new Array(len);
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = (bytes[i] >> j) | (i + 1 < bytes.length ? bytes[i + 1] << (8 - j) : 0);
    codes[len - 1 - n] = ALPHABET_CODES[c & 0x1f];
  }
  return String.fromCharCode.apply(null, codes);
}

/** Decodes nix32. Throws on characters outside the alphabet and on strings
 *  that no byte length encodes to (or whose unused high bits are set). */
export function decodeNixBase32(s: string): Uint8Array {
  const byteLength = Math.floor((s.length * 5) / 8);
  if (nixBase32Length(byteLength) !== s.length) throw new Error(`invalid nix32 string length ${s.length}: '${s}'`);
  const out = new Uint8Array(byteLength);
  for (let n = 0; n < s.length; n++) {
    const ch = s.charCodeAt(s.length - n - 1);
    const digit = ch < 128 ? DECODE[ch] : -1;
    if (digit < 0) throw new Error(`invalid character '${s[s.length - n - 1]}' in nix32 string '${s}'`);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i + 1 < byteLength) out[i + 1] |= carry;
    else if (carry !== 0) throw new Error(`invalid nix32 string '${s}' (non-zero padding bits)`);
  }
  return out;
}

export function isNixBase32(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || DECODE[c] < 0) return false;
  }
  return true;
}
