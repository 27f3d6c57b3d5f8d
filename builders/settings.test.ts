// Build settings: the config file, --option overrides, clear errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isBuildSetting, loadSettings, parseConfig } from "./settings";

test("settings come from tvix.conf, --option wins, unknown names and bad values are errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-settings-"));
  const saved = process.env.TVIX_CONF;
  try {
    process.env.TVIX_CONF = join(dir, "tvix.conf");
    writeFileSync(process.env.TVIX_CONF, "# builds\nsandbox = runc\nmax-jobs = 4\nsubstituters = file:///a  file:///b\nsandbox-paths = /bin/sh=/usr/bin/bash-static /etc/x\nrequire-sigs = false\n");
    const s = loadSettings({ "max-jobs": "2" });
    assert.equal(s.sandbox, "runc");
    assert.equal(s.maxJobs, 2);
    assert.deepEqual(s.substituters, ["file:///a", "file:///b"]);
    assert.deepEqual(s.sandboxPaths, [["/usr/bin/bash-static", "/bin/sh"], ["/etc/x", "/etc/x"]]);
    assert.equal(s.requireSigs, false);
    assert.throws(() => loadSettings({ sandbox: "docker" }), /'sandbox' must be 'bwrap' or 'runc', not 'docker'/);
    assert.throws(() => loadSettings({ cores: "many" }), /'cores' must be a number/);
    writeFileSync(process.env.TVIX_CONF, "bogus = 1\n");
    assert.throws(() => loadSettings(), /unknown setting 'bogus'/);
    assert.throws(() => parseConfig("no equals sign", "f"), /f:1: expected 'name = value'/);
    assert.ok(isBuildSetting("max-silent-time") && !isBuildSetting("abort-on-warn"));
  } finally {
    if (saved === undefined) delete process.env.TVIX_CONF;
    else process.env.TVIX_CONF = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
