// Structured attributes (`__structuredAttrs = true`, the `__json` variable of
// a derivation): the `.attrs.json` and `.attrs.sh` files a build receives,
// byte for byte as Nix writes them. JSON numbers keep their text (an
// integer beyond 2^53 or a float like 1.0 survives a round trip), objects
// are written with their keys sorted by bytes, strings escaped as
// nlohmann::json does.

/** A JSON number, kept as its text. */
export class JsonNumber {
  constructor(readonly text: string) {}
  get isInteger(): boolean {
    return /^-?\d+$/.test(this.text);
  }
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
export class JsonObject {
  readonly entries = new Map<string, JsonValue>();
}

export class JsonParseError extends Error {}

/** Parses JSON text, numbers kept as text. */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  };
  const fail = (what: string): never => {
    throw new JsonParseError(`invalid JSON in structured attributes: ${what} at offset ${i}`);
  };
  const value = (): JsonValue => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const o = new JsonObject();
      ws();
      if (text[i] === "}") {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const k = str();
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        o.entries.set(k, value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return o;
        } else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const a: JsonValue[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return a;
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith("true", i)) return (i += 4), true;
    if (text.startsWith("false", i)) return (i += 5), false;
    if (text.startsWith("null", i)) return (i += 4), null;
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail("unexpected character");
    i += m![0].length;
    return new JsonNumber(m![0]);
  };
  const str = (): string => {
    // JSON.parse handles escapes and surrogates exactly
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const v = value();
  ws();
  if (i !== text.length) fail("trailing data");
  return v;
}

const enc = new TextEncoder();
/** std::map<std::string> order: by UTF-8 bytes. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(enc.encode(a)), Buffer.from(enc.encode(b)));
}

function escapeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (c === 8) out += "\\b";
    else if (c === 12) out += "\\f";
    else if (c === 10) out += "\\n";
    else if (c === 13) out += "\\r";
    else if (c === 9) out += "\\t";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += ch;
  }
  return out + '"';
}

/** nlohmann::json's dump(): compact, keys sorted. */
export function dumpJson(v: JsonValue): string {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "string") return escapeString(v);
  if (v instanceof JsonNumber) return v.text;
  if (Array.isArray(v)) return "[" + v.map(dumpJson).join(",") + "]";
  const keys = [...v.entries.keys()].sort(byteOrder);
  return "{" + keys.map((k) => escapeString(k) + ":" + dumpJson(v.entries.get(k)!)).join(",") + "}";
}

const shellEscape = (s: string) => "'" + s.replace(/'/g, "'\\''") + "'";

/** A scalar as .attrs.sh writes it, or undefined when it is not one Nix writes. */
function simpleValue(v: JsonValue): string | undefined {
  if (typeof v === "string") return shellEscape(v);
  if (v instanceof JsonNumber) {
    // Nix: if (ceil(float(x)) == float(x)) to_string(int(x)), so integers
    // are truncated to 32 bits and non-integral floats are left out
    const x = Number(v.text);
    const f = Math.fround(x);
    if (Math.ceil(f) !== f) return undefined;
    if (v.isInteger) return String(Number(BigInt.asIntN(32, BigInt(v.text))));
    return String(Math.abs(x) < 2 ** 31 ? Math.trunc(x) : -(2 ** 31));
  }
  if (v === null) return "''";
  if (v === true) return "1";
  if (v === false) return "";
  return undefined;
}

/** The `.attrs.sh` text for a structured-attrs object (bash declarations). */
export function attrsShell(attrs: JsonObject): string {
  let sh = "";
  for (const key of [...attrs.entries.keys()].sort(byteOrder)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) continue;
    const v = attrs.entries.get(key)!;
    const s = simpleValue(v);
    if (s !== undefined) sh += `declare ${key}=${s}\n`;
    else if (Array.isArray(v)) {
      const items = v.map(simpleValue);
      if (items.every((x) => x !== undefined)) sh += `declare -a ${key}=(${items.map((x) => x + " ").join("")})\n`;
    } else if (v instanceof JsonObject) {
      const keys = [...v.entries.keys()].sort(byteOrder);
      const items = keys.map((k) => [k, simpleValue(v.entries.get(k)!)] as const);
      if (items.every(([, x]) => x !== undefined)) sh += `declare -A ${key}=(${items.map(([k, x]) => `[${shellEscape(k)}]=${x} `).join("")})\n`;
    }
  }
  return sh;
}
