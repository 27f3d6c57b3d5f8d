// Version strings as Nix compares them (compareVersions, splitVersion,
// parseDrvName).

/** Splits at "." and "-" and between digit and non-digit runs. */
export function splitVersion(v: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < v.length) {
    const c = v[i];
    if (c === "." || c === "-") {
      i++;
      continue;
    }
    let j = i;
    const digit = c >= "0" && c <= "9";
    while (j < v.length && v[j] !== "." && v[j] !== "-" && (v[j] >= "0" && v[j] <= "9") === digit) j++;
    out.push(v.slice(i, j));
    i = j;
  }
  return out;
}

function isNum(s: string): boolean {
  return s.length > 0 && /^[0-9]+$/.test(s);
}

function componentLess(a: string, b: string): boolean {
  const an = isNum(a);
  const bn = isNum(b);
  if (an && bn) return BigInt(a) < BigInt(b);
  if (a === "" && bn) return true;
  if (a === "pre" && b !== "pre") return true;
  if (b === "pre") return false;
  if (bn) return true;
  if (an) return false;
  return a < b;
}

export function compareVersions(a: string, b: string): number {
  const pa = splitVersion(a);
  const pb = splitVersion(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (componentLess(x, y)) return -1;
    if (componentLess(y, x)) return 1;
  }
  return 0;
}

/** "name-1.2" -> name "name", version "1.2": the version starts at the first "-" followed by a non-letter. */
export function parseDrvName(s: string): { name: string; version: string } {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "-" && i + 1 < s.length && !/[a-zA-Z]/.test(s[i + 1])) return { name: s.slice(0, i), version: s.slice(i + 1) };
  }
  return { name: s, version: "" };
}
