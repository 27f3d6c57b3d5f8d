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

test("a helper started ahead of the first build has that build's FIFO ready, and runs it", async () => {
  const { BwrapSpawner } = await import("./spawner");
  const { existsSync, readdirSync, statSync } = await import("node:fs");
  // this stand-in reports the command's exit status as bwrap does
  const reporting = join(work, "bwrap-status");
  writeFileSync(reporting, `#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\n"$@"\necho "{ \\"exit-code\\": $? }" >&5\n`);
  chmodSync(reporting, 0o755);
  const spool = join(work, "spool");
  const s = new BwrapSpawner(reporting, {}, spool);
  s.warmUp();
  const spare = () => {
    for (const d of existsSync(spool) ? readdirSync(spool) : []) for (const f of readdirSync(join(spool, d))) if (statSync(join(spool, d, f)).isFIFO()) return join(spool, d, f);
    return null;
  };
  // the helper makes a spare FIFO on its own, before any build is asked for
  const deadline = Date.now() + 10_000;
  let fifo: string | null = null;
  while ((fifo = spare()) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(fifo, "no spare FIFO was made");
  await new Promise((r) => setTimeout(r, 100)); // (its answer read)
  let log = "";
  const r = await s.run(join(work, "warm"), [], ["/bin/sh", "-c", "echo hello from the build; exit 3"], [], new Uint8Array(), { onLog: (c) => (log += String(c)) });
  assert.deepEqual(r, { code: 3, signal: null });
  assert.equal(log, "hello from the build\n");
  assert.ok(!existsSync(fifo), "the spare FIFO did not become the build's log");
  s.release();
});
