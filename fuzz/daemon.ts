// Target "daemon": the worker-protocol listener (daemon/connection.ts) fed
// mutated conversations that stock Nix 2.8 clients had with it
// (test/fixtures/daemon/*.bin), in-process: each input is one connection
// whose client sends the bytes and closes. A connection must end by itself
// (never hang), and what the daemon says (errors sent to the client, its own
// log) must never be a JavaScript fault. Every so often, and at the end, the
// store is checked: each valid path's NAR matches its info, its files on disk
// are intact and its references are valid. daemon/fuzz.test.ts does the same
// over a real socket with several clients at once, for a few seconds.
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Connection } from "../daemon/connection";
import { ServedStore } from "../daemon/served-store";
import { defaultSettings } from "../daemon/settings";
import { openMemoryStore } from "../stores/memory";
import { filesOf, repoRoot } from "./seeds";
import type { Target } from "./engine";

let served: ServedStore | null = null;
let nextId = 1;
const faultText = /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|Maximum call stack|Invalid array length|Invalid typed array length|Invalid string length|Cannot convert|Cannot mix BigInt|internal error|AssertionError|RangeError|TypeError/;

function store(): ServedStore {
  if (!served) {
    const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "tvix-fuzz-daemon-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    served = new ServedStore({ store: openMemoryStore(), fsRoot: join(dir, "root"), settings: defaultSettings() });
  }
  return served;
}

async function* chunked(b: Uint8Array, step: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += step) yield b.subarray(i, i + step);
}

/** Runs one conversation; resolves with everything the daemon said and logged. */
export async function converse(bytes: Uint8Array, trusted = true): Promise<{ said: string; logged: string[] }> {
  const said: Buffer[] = [];
  const logged: string[] = [];
  const conn = new Connection({
    store: store(),
    transport: {
      input: chunked(bytes, 1 + (bytes.length % 4093)),
      write: (b) => (said.push(Buffer.from(b)), Promise.resolve()),
      close: () => {},
    },
    trusted,
    peer: null,
    nixVersion: "fuzz",
    id: nextId++,
    debug: (m) => logged.push(m),
  });
  await conn.run();
  return { said: Buffer.concat(said).toString("latin1"), logged };
}

export const daemonTarget: Target = {
  name: "daemon",
  seeds: () => filesOf(join(repoRoot, "test", "fixtures", "daemon"), (n) => n.endsWith(".bin"), 1 << 20),
  dictionary: [],
  maxLen: 256 * 1024,
  async run(input) {
    const { said, logged } = await converse(input, input.length % 7 !== 0);
    const fault = [said, ...logged].find((m) => faultText.test(m));
    if (fault) throw new Error(`the daemon hit a fault: ${fault.match(new RegExp(`.{0,80}(${faultText.source}).{0,120}`, "s"))?.[0] ?? fault.slice(0, 200)}`);
    return logged.length ? logged[logged.length - 1].replace(/^connection \d+: /, "").replace(/[0-9]+/g, "N").slice(0, 60) : "ok";
  },
  expected: () => false,
  async check() {
    const s = store();
    const errors: string[] = [];
    const bad = await s.verify(true, false, (m) => {
      if (/was modified|cannot/.test(m)) errors.push(m);
    });
    if (bad) throw new Error(`the store holds a damaged path: ${errors.join("; ")}`);
    for (const p of await s.allValidPaths()) {
      const info = await s.store.queryPathInfo(p);
      if (!info) throw new Error(`${p} is listed valid but has no info`);
      for (const r of info.references) if (!(await s.store.queryPathInfo(r))) throw new Error(`${p} refers to invalid ${r}`);
    }
  },
};
