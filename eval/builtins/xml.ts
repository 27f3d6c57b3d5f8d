// builtins.toXML (and `tvix eval --xml`): Nix's XML rendering of values.
import type { Pos } from "../ast";
import { Lambda, Lazy, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Thunk, Value, force, strValue, isString, materialize, compareStrings } from "../value";
import type { Definer } from "./registry";
import { sourcePos } from "../positions";
import { formatFloat } from "../print";
import { isDerivation } from "../operators";

export function register(def: Definer): void {
  def("toXML", 1, ([v], pos) => {
    const ctx = new Set<string>();
    const s = toXML(v, false, pos, ctx);
    return ctx.size ? new NixString(s, ctx) : s;
  });
}

function esc(s: string): string {
  return s.replace(/[<>&"\n\r\t]/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === '"' ? "&quot;" : c === "\n" ? "&#xA;" : c === "\r" ? "&#xD;" : "&#x9;",
  );
}

/**
 * The XML of a value. Not `strict` (`--xml` without `--strict`), what is
 * not evaluated yet stays so and is `<unevaluated />`, as in Nix.
 */
export function toXML(l: Lazy, location: boolean, pos: Pos | null, ctx: Set<string>, strict = true): string {
  const lines: string[] = ["<?xml version='1.0' encoding='utf-8'?>", "<expr>"];
  const drvsSeen = new Set<string>();
  const pending = (x: Lazy) => !strict && x instanceof Thunk && x.code !== null;
  const go = (x: Lazy, ind: string) => {
    if (pending(x)) {
      lines.push(`${ind}<unevaluated />`);
      return;
    }
    const v: Value = force(x);
    if (v === null) lines.push(`${ind}<null />`);
    else if (typeof v === "boolean") lines.push(`${ind}<bool value="${v}" />`);
    else if (typeof v === "number" || typeof v === "bigint") lines.push(`${ind}<int value="${v}" />`);
    else if (v instanceof NixFloat) lines.push(`${ind}<float value="${formatFloat(v.v)}" />`);
    else if (isString(v)) {
      if (v instanceof NixString) for (const c of v.ctx) ctx.add(c);
      lines.push(`${ind}<string value="${esc(strValue(v))}" />`);
    } else if (v instanceof NixPath) lines.push(`${ind}<path value="${esc(v.path)}" />`);
    else if (Array.isArray(v)) {
      lines.push(`${ind}<list>`);
      for (const e of materialize(v)) go(e, ind + "  ");
      lines.push(`${ind}</list>`);
    } else if (v instanceof NixAttrs) {
      if (isDerivation(v)) {
        const drvPath = v.get("drvPath");
        const outPath = v.get("outPath");
        let attrsText = "";
        let dp = "";
        if (drvPath !== undefined && !pending(drvPath)) {
          const d = force(drvPath);
          if (isString(d)) {
            dp = strValue(d);
            attrsText += ` drvPath="${esc(dp)}"`;
            if (d instanceof NixString) for (const c of d.ctx) ctx.add(c);
          }
        }
        if (outPath !== undefined && !pending(outPath)) {
          const o = force(outPath);
          if (isString(o)) {
            attrsText += ` outPath="${esc(strValue(o))}"`;
            if (o instanceof NixString) for (const c of o.ctx) ctx.add(c);
          }
        }
        // as Nix: a derivation seen before, or whose drvPath is not (yet) a string, is <repeated />
        if (!dp || drvsSeen.has(dp)) {
          lines.push(`${ind}<derivation${attrsText}>`, `${ind}  <repeated />`, `${ind}</derivation>`);
          return;
        }
        drvsSeen.add(dp);
        lines.push(`${ind}<derivation${attrsText}>`);
        attrsBody(v, ind + "  ");
        lines.push(`${ind}</derivation>`);
        return;
      }
      lines.push(`${ind}<attrs>`);
      attrsBody(v, ind + "  ");
      lines.push(`${ind}</attrs>`);
    } else if (v instanceof Lambda) {
      const info = v.info;
      const ip = sourcePos(info.pos);
      const loc = location ? ` column="${ip.column}" line="${ip.line}"${pathAttr(ip.file)}` : "";
      lines.push(`${ind}<function${loc}>`);
      if (info.formals) {
        const at = info.arg !== undefined ? ` name="${esc(info.arg)}"` : "";
        lines.push(`${ind}  <attrspat${info.formals.ellipsis ? ' ellipsis="1"' : ""}${at}>`);
        // in Nix's lexicographic (byte) order, not as written
        for (const n of [...info.formals.names].sort(compareStrings)) lines.push(`${ind}    <attr name="${esc(n)}" />`);
        lines.push(`${ind}  </attrspat>`);
      } else lines.push(`${ind}  <varpat name="${esc(info.arg!)}" />`);
      lines.push(`${ind}</function>`);
    } else if (v instanceof PrimOp || v instanceof PrimOpApp) lines.push(`${ind}<unevaluated />`);
  };
  const attrsBody = (v: NixAttrs, ind: string) => {
    for (const k of v.keys()) {
      const pk = v.positions?.get(k);
      const p = pk === undefined ? undefined : sourcePos(pk);
      // (XML attributes in name order, as Nix writes them)
      const loc = location && p ? ` column="${p.column}" line="${p.line}"` : "";
      lines.push(`${ind}<attr${loc} name="${esc(k)}"${location && p ? pathAttr(p.file) : ""}>`);
      go(v.get(k)!, ind + "  ");
      lines.push(`${ind}</attr>`);
    }
  };
  void pos;
  go(l, "  ");
  lines.push("</expr>");
  return lines.join("\n") + "\n";
}

/** Positions of -E expressions have no file: Nix then omits the path attribute. */
function pathAttr(file: string): string {
  return file ? ` path="${esc(file)}"` : "";
}
