// The worker side of `tvix eval`: evaluates and writes the output.
import { writeSync } from "node:fs";
import { runEval, type EvalRequest } from "../eval/driver";

function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s, "utf8");
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

export async function evalTask(req: EvalRequest): Promise<number> {
  return runEval(req, { out: (s) => writeAll(1, s), err: (s) => writeAll(2, s) });
}
