// The transport of `store daemon --stdio`, in a process of its own whose
// stdout we close: the spot the daemon is in once its ssh session has ended.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

test("a reply written after the client went away fails instead of waiting forever", async () => {
  const server = fileURLToPath(new URL("./server.ts", import.meta.url));
  // more than the stream's buffer limit, so the write waits for its bytes to go
  const script = `
    import { stdioTransport } from ${JSON.stringify(server)};
    const t = stdioTransport();
    process.stdin.resume();
    process.stdin.once("end", async () => {
      try {
        await t.write(new Uint8Array(256 * 1024));
        process.stderr.write("written\\n");
      } catch (e) {
        process.stderr.write("failed: " + e.message + "\\n");
      }
    });
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => (err += s));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  child.stdout.destroy(); // nobody reads its stdout any more
  child.stdin.end();
  // a write that never settles leaves nothing to wait for: the child ends with its await unsettled
  const code = await exited;
  assert.match(err, /^failed: the client closed the connection$/m, err);
  assert.equal(code, 0, err);
});
