// The sandbox helper of builders/spawner.ts, with a stand-in for bwrap (a
// script that runs the command as is), so these run without namespaces.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

let work: string;
let fakeBwrap: string;

before(() => {
  work = mkdtempSync(join(tmpdir(), "tvix-spawner-test-"));
  fakeBwrap = join(work, "bwrap");
  // skips bwrap's options up to "--", then becomes the command (no status on fd 5)
  writeFileSync(fakeBwrap, `#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n`);
  chmodSync(fakeBwrap, 0o755);
});
after(() => rmSync(work, { recursive: true, force: true }));

test("a build stopped while nobody reads our stderr any more still settles, as interrupted", async () => {
  // a process of its own whose stderr we then close: the spot a --stdio
  // daemon is in once its ssh session has ended
  const spawner = fileURLToPath(new URL("./spawner.ts", import.meta.url));
  const script = `
    import { BwrapSpawner } from ${JSON.stringify(spawner)};
    const s = new BwrapSpawner(${JSON.stringify(fakeBwrap)}, {});
    const ac = new AbortController();
    const run = s.run(${JSON.stringify(join(work, "spawn"))}, [], ["/bin/sh", "-c", "echo started; exec sleep 60"], [], new Uint8Array(),
      { onLog: (c) => String(c).includes("started") && process.stdout.write("started\\n") }, { signal: ac.signal });
    process.stdin.once("data", () => ac.abort());
    run.then((r) => process.stdout.write("resolved " + JSON.stringify(r) + "\\n"), (e) => process.stdout.write("rejected " + e.kind + ": " + e.message + "\\n"));
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (s: string) => {
      out += s;
      if (out.includes("started\n")) resolve();
    });
    child.on("exit", () => reject(new Error(`the child ended before the build started: ${out}`)));
  });
  child.stderr.destroy(); // its stderr (and so the helper's) is now a pipe without reader
  child.stdin.end("abort\n");
  // a build that never settles keeps the child up: ended after a generous while, it fails the test
  const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const code = await exited;
    assert.match(out, /^rejected interrupted: interrupted$/m, `the stopped build never settled: ${out}`);
    assert.equal(code, 0);
  } finally {
    clearTimeout(guard);
    child.kill("SIGKILL");
  }
});
