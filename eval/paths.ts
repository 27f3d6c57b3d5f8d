// Path arithmetic as C++ Nix's canonPath: absolute, no ".", "..", "//" or trailing "/".
/** Something canonPath changes: "//", a "." or ".." component, or a trailing "/". */
const NOT_CANONICAL = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

export function canonPath(p: string): string {
  if (!p.startsWith("/")) throw new Error(`not an absolute path: '${p}'`);
  if (!NOT_CANONICAL.test(p)) return p;
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

export function baseNameOf(p: string): string {
  let end = p.length;
  if (end > 0 && p[end - 1] === "/") end--;
  const slash = p.lastIndexOf("/", end - 1);
  return p.slice(slash + 1, end);
}

export function dirOf(p: string): string {
  const slash = p.lastIndexOf("/");
  if (slash < 0) return ".";
  if (slash === 0) return "/";
  // Nix 2.26 also drops the slashes before the last component ("a//b" -> "a"),
  // but keeps an all-slash prefix as it is ("//" -> "//")
  let end = slash;
  while (end > 0 && p[end - 1] === "/") end--;
  return end === 0 ? p.slice(0, slash + 1) : p.slice(0, end);
}
