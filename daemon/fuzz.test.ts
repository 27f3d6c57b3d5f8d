// Protocol fuzzing: conversations recorded from stock Nix 2.8 clients
// (test/fixtures/daemon/*.bin, made by record.ts there) are replayed against
// the listener with random mutations (those of fuzz/engine.ts: bit flips,
// cuts, inserted, repeated and spliced runs, numbers replaced by edge
// values) over a real socket, several clients at once, for a bounded time
// (FUZZ_SECONDS, default 3); fuzz/daemon.ts runs many more in-process. The daemon must keep serving, and every path it holds valid
// must be intact: its NAR hashes to its info, its references are valid,
// and its files on disk match. The seed is printed; FUZZ_SEED replays it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DaemonConnection } from "../stores/daemon-client";
import { openMemoryStore } from "../stores/memory";
import { Op } from "../core/daemon-protocol";
import { WireWriter } from "../core/wire";
import { ServedStore } from "./served-store";
import { DaemonServer } from "./server";
import { defaultSettings } from "./settings";
import { mutate, rng } from "../fuzz/engine";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures", "daemon");
const recordings = readdirSync(fixtures)
  .filter((f) => f.endsWith(".bin"))
  .sort()
  .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(fixtures, f))) }));

let dir: string;
let sock: string;
let served: ServedStore;
let server: DaemonServer;
const internalErrors: string[] = [];
let timeouts = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tvix-daemon-fuzz-"));
  sock = join(dir, "sock");
  served = new ServedStore({ store: openMemoryStore(), fsRoot: join(dir, "root"), settings: defaultSettings() });
  server = new DaemonServer({
    store: served,
    nixVersion: "fuzz",
    forceTrusted: true,
    verbose: true,
    log: (m) => {
      if (/internal error/.test(m)) internalErrors.push(m);
    },
  });
  await server.listen(sock);
});

after(async () => {
  await server.shutdown(1000);
  rmSync(dir, { recursive: true, force: true });
});

/** Sends a conversation, half-closes, and waits for the daemon to close (or gives up after `ms`). */
function replay(bytes: Uint8Array, ms = 1500): Promise<void> {
  return new Promise((resolve) => {
    const s = createConnection(sock);
    const timer = setTimeout(() => (timeouts++, s.destroy(), resolve()), ms);
    s.on("error", () => {});
    s.resume();
    s.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    s.end(bytes);
  });
}

async function checkStore(): Promise<void> {
  // the daemon answers
  const c = await DaemonConnection.connect(sock);
  await c.send(new WireWriter().u64(Op.IsValidPath).string("/nix/store/00000000000000000000000000000000-x"));
  await c.processStderr();
  assert.equal(await c.reader.bool(), false);
  c.close();
  // every valid path is whole: NAR hash and size, references, files on disk
  const errors: string[] = [];
  const bad = await served.verify(true, false, (m) => {
    if (/was modified|cannot/.test(m)) errors.push(m);
  });
  assert.equal(bad, false, errors.join("\n"));
  for (const p of await served.allValidPaths()) {
    const info = (await served.store.queryPathInfo(p))!;
    for (const r of info.references) assert.ok(await served.store.queryPathInfo(r), `${p} refers to invalid ${r}`);
  }
}

test("recorded conversations replay cleanly", async () => {
  assert.ok(recordings.length >= 10, "recordings missing: run test/fixtures/daemon/record.ts");
  for (const rec of recordings) {
    await replay(rec.bytes);
    // after the import, its closure is valid (the last recordings delete and collect it)
    if (/-import\.bin$/.test(rec.name)) assert.ok((await served.allValidPaths()).length >= 2, `nothing valid after ${rec.name}`);
  }
  await checkStore();
});

test("mutated conversations never stop the daemon or leave an invalid path valid", async () => {
  const seed = Number(process.env.FUZZ_SEED) || (Date.now() & 0x7fffffff);
  const seconds = Number(process.env.FUZZ_SECONDS) || 3;
  const r = rng(seed);
  const others = recordings.map((x) => x.bytes);
  const until = Date.now() + seconds * 1000;
  let runs = 0;
  try {
    while (Date.now() < until) {
      // a few at once, some on top of an unmodified conversation that set up state
      await Promise.all(
        Array.from({ length: 4 }, () => {
          const rec = recordings[r.int(recordings.length)];
          return replay(mutate(rec.bytes, r, others, [], 1 << 20), 1000);
        }),
      );
      runs += 4;
      if (runs % 40 === 0) await replay(recordings[r.int(recordings.length)].bytes);
    }
    await checkStore();
    assert.deepEqual(internalErrors, []);
  } catch (e) {
    (e as Error).message += ` (FUZZ_SEED=${seed}, after ${runs} runs)`;
    throw e;
  }
  process.stderr.write(`fuzz: ${runs} mutated conversations (${timeouts} waited for), seed ${seed}\n`);
});
