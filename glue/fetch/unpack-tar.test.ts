// Archives unpack into a tree in memory: a well-formed tarball gives its
// single top-level directory; hostile ones (names climbing out, a file
// written through a symlink member, hard links through symlinks or to
// nothing) are refused, and nothing is written outside the archive's tree.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { unpackArchive } from "./unpack";
import type { NarNode } from "../../core/nar";

type Member = { name: string; type?: "file" | "directory" | "symlink" | "link"; body?: string; linkname?: string; mode?: number };

async function tarball(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on("end", () => r()));
  for (const m of members) {
    await new Promise<void>((res, rej) =>
      pack.entry({ name: m.name, type: m.type ?? "file", linkname: m.linkname, mode: m.mode ?? 0o644 }, m.body ?? "", (e) => (e ? rej(e) : res())),
    );
  }
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

async function unpack(members: Member[]): Promise<NarNode> {
  const dir = mkdtempSync(join(tmpdir(), "tvix-unpack-"));
  try {
    const file = join(dir, "a.tar.gz");
    writeFileSync(file, await tarball(members));
    return await unpackArchive({ file, url: "file://" + file });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a tarball unpacks to its single top-level directory, with modes, symlinks and hard links", async () => {
  const t = await unpack([
    { name: "src/", type: "directory" },
    { name: "src/a.txt", body: "hello" },
    { name: "src/bin/run", body: "#!/bin/sh\n", mode: 0o755 },
    { name: "src/link", type: "symlink", linkname: "a.txt" },
    { name: "src/copy", type: "link", linkname: "src/a.txt" },
  ]);
  assert.equal(t.type, "directory");
  const e = (t as Extract<NarNode, { type: "directory" }>).entries;
  assert.deepEqual([...e.keys()].sort(), ["a.txt", "bin", "copy", "link"]);
  assert.deepEqual(e.get("link"), { type: "symlink", target: "a.txt" });
  assert.equal(Buffer.from((e.get("copy") as { contents: Uint8Array }).contents).toString(), "hello");
  const run = (e.get("bin") as Extract<NarNode, { type: "directory" }>).entries.get("run") as { executable: boolean };
  assert.equal(run.executable, true);
});

test("hostile tarballs are refused and write nothing outside their tree", async () => {
  const victim = mkdtempSync(join(tmpdir(), "tvix-victim-"));
  try {
    const cases: [string, Member[], RegExp][] = [
      ["a name climbing out", [{ name: "src/../../escaped", body: "x" }], /points outside the archive/],
      ["a file through an absolute symlink", [{ name: "src/", type: "directory" }, { name: "src/out", type: "symlink", linkname: victim }, { name: "src/out/planted", body: "x" }], /inside 'out', which is a symlink/],
      ["a file through a relative symlink", [{ name: "src/up", type: "symlink", linkname: "../../.." }, { name: "src/up/planted", body: "x" }], /which is a symlink/],
      ["a hard link through a symlink", [{ name: "src/out", type: "symlink", linkname: victim }, { name: "src/h", type: "link", linkname: "src/out/secret" }], /not an earlier regular file/],
      ["a hard link to nothing", [{ name: "src/h", type: "link", linkname: "/etc/shadow" }], /not an earlier regular file/],
    ];
    for (const [what, members, error] of cases) await assert.rejects(unpack(members), error, what);
    assert.equal(existsSync(join(victim, "planted")), false);
    // a symlink followed by a regular file of the same name replaces the link in the tree
    const t = (await unpack([{ name: "src/x", type: "symlink", linkname: victim }, { name: "src/x", body: "plain" }])) as Extract<NarNode, { type: "directory" }>;
    assert.equal(t.entries.get("x")?.type, "regular");
  } finally {
    rmSync(victim, { recursive: true, force: true });
  }
});
