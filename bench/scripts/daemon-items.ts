// The paths bench/daemon.ts and bench/scripts/daemon-add.ts add through
// AddMultipleToStore: text paths of deterministic contents.
import type { DaemonConnection } from "../../stores/daemon-client";
import { Op, writeValidPathInfo, type WirePathInfo } from "../../core/daemon-protocol";
import { WireWriter } from "../../core/wire";
import { hashBytes } from "../../core/hash";
import { makeTextPath } from "../../core/store-path";
import { narFromTree } from "../../core/nar";
import { pseudoRandom } from "../util";

export interface Item {
  info: WirePathInfo;
  nar: Uint8Array;
}
export function items(n: number, minSize: number, maxSize: number, seed: number): Item[] {
  const blob = pseudoRandom(Math.max(maxSize * 2, 1 << 20), seed);
  return Array.from({ length: n }, (_, i) => {
    const size = minSize + ((i * 7919) % (maxSize - minSize + 1));
    const off = (i * 104729) % (blob.length - size);
    const contents = new Uint8Array(blob.subarray(off, off + size));
    contents[0] = i & 0xff;
    contents[1] = (i >> 8) & 0xff;
    contents[2] = seed & 0xff;
    const nar = narFromTree({ type: "regular", executable: false, contents });
    const h = hashBytes("sha256", contents);
    const path = makeTextPath(`bench-${seed}-${i}`, h, []).toAbsolute();
    return { nar, info: { path, deriver: "", narHash: hashBytes("sha256", nar).toBase16(), references: [], registrationTime: 0, narSize: nar.length, ultimate: false, signatures: [], ca: `text:${h.toString()}` } };
  });
}

/** Sends one AddMultipleToStore of `list` in 32 KiB frames (as Nix does) and waits for the answer; returns the milliseconds. */
export async function sendAddMultiple(c: DaemonConnection, list: Item[]): Promise<number> {
  const payload = new WireWriter().u64(list.length);
  for (const it of list) writeValidPathInfo(payload, c.version, it.info).raw(it.nar);
  const body = payload.take();
  const t0 = process.hrtime.bigint();
  await c.send(new WireWriter().u64(Op.AddMultipleToStore).bool(false).bool(true));
  for (let o = 0; o < body.length; o += 32768) await c.send(new WireWriter().frame(body.subarray(o, o + 32768)));
  await c.send(new WireWriter().frame(new Uint8Array(0)));
  await c.processStderr();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
