// `tvix repl` in a real terminal (tmux): line editing, history across
// restarts, multi-line input, completion, Ctrl-C, and nix repl's printing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers";

const haveTmux = spawnSync("sh", ["-c", "command -v tmux"]).status === 0;
const work = mkdtempSync(join(tmpdir(), "tvix-repl-pty-"));
// a tmux server per repl started: a new session on a server whose last session just ended can meet it exiting
let starts = 0;
let socket = `tvix-test-${process.pid}-0`;
after(() => {
  spawnSync("tmux", ["-L", socket, "kill-server"]);
  rmSync(work, { recursive: true, force: true });
});

const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
const screen = () => tmux("capture-pane", "-p", "-t", "repl", "-S", "-200").stdout;
/** The screen with trailing spaces kept (a continuation prompt is only spaces). */
const screenN = () => tmux("capture-pane", "-p", "-N", "-t", "repl", "-S", "-200").stdout;
/** Types text literally (tmux takes a trailing ';' as its command separator unless escaped). */
const type = (s: string) => tmux("send-keys", "-t", "repl", "-l", s.replace(/;$/, "\\;"));
const key = (...k: string[]) => tmux("send-keys", "-t", "repl", ...k);

async function waitFor(pred: (s: string) => boolean, what: string, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** The screen once the number of prompts reaches n. */
// (capture-pane drops trailing spaces: an empty prompt line is "nix-repl>")
const prompts = (s: string) => (s.match(/^nix-repl>/gm) ?? []).length;
const waitPrompts = (n: number, what: string, ms?: number) => waitFor((s) => prompts(s) >= n, what, ms);

function startRepl(stderrFile?: string): void {
  tmux("kill-server");
  socket = `tvix-test-${process.pid}-${++starts}`;
  // tsx by path: the session runs in its own directory
  const cmd = `${process.execPath} --import ${join(repoRoot, "node_modules/tsx/dist/loader.mjs")} ${join(repoRoot, "cmd/main.ts")} repl${stderrFile ? ` 2>>${stderrFile}` : ""}`;
  const r = tmux("new-session", "-d", "-s", "repl", "-x", "160", "-y", "60", "-c", work, "-e", `TVIX_HOME=${join(work, "home")}`, "-e", "NO_COLOR=1", cmd);
  assert.equal(r.status, 0, r.stderr);
}

test("repl in a terminal: history, multi-line input, completion, Ctrl-C, :t, :p, :l and nix repl's printing", { skip: !haveTmux && "tmux not installed", timeout: 180_000 }, async () => {
  writeFileSync(join(work, "fn.nix"), `{ greeting ? "hello", who ? "world" }: { message = "\${greeting} \${who}"; inherit who; }\n`);
  startRepl();
  let n = 1;
  await waitPrompts(n, "the first prompt");

  // a multi-line let: continuation lines until the brackets and the let are closed
  const continuations = (_: string) => (screenN().match(/^ {10}/gm) ?? []).length;
  type("let a = {");
  key("Enter");
  await waitFor((x) => continuations(x) >= 1, "a continuation line");
  type(" b = [ 1 2 ]; c.d = 3;");
  key("Enter");
  await waitFor((x) => continuations(x) >= 2, "a second continuation line");
  type("}; in a");
  key("Enter");
  let s = await waitPrompts(++n, "the multi-line let");
  assert.match(s, /nix-repl> let a = \{\n {11}b = \[ 1 2 \]; c\.d = 3;\n {10}\}; in a\n\{\n  b = \[ \.\.\. \];\n  c = \{ \.\.\. \};\n\}\n/);

  // a binding, reused on the next line
  type("pkgs = { hello = 1; world = 2; nested.deeper = 3; }");
  key("Enter");
  await waitPrompts(++n, "the binding");
  type("pkgs.hello + 41");
  key("Enter");
  s = await waitPrompts(++n, "the reuse");
  assert.match(s, /nix-repl> pkgs\.hello \+ 41\n42\n/);

  // completion: a builtin with one match, the list of several, an attribute path
  type("builtins.toJ");
  key("Tab");
  await waitFor((x) => x.includes("nix-repl> builtins.toJSON"), "builtins.toJ<TAB>");
  key("C-u");
  type("builtins.to");
  // two presses, not one burst (readline takes a burst as pasted text, tabs and all)
  key("Tab");
  await new Promise((r) => setTimeout(r, 300));
  key("Tab");
  s = await waitFor((x) => /builtins\.toXML/.test(x) && /builtins\.toString/.test(x), "the builtins.to<TAB><TAB> list");
  key("C-u");
  type("pkgs.wo");
  key("Tab");
  await waitFor((x) => x.includes("nix-repl> pkgs.world"), "pkgs.wo<TAB>");
  key("Enter");
  n = prompts(await waitFor((x) => /nix-repl> pkgs\.world\n2\n\nnix-repl>$/m.test(x), "the completed line's value"));

  // :t and :p
  type(":t pkgs.nested");
  key("Enter");
  s = await waitPrompts(++n, ":t");
  assert.match(s, /nix-repl> :t pkgs\.nested\na set\n/);
  type(":p pkgs");
  key("Enter");
  s = await waitPrompts(++n, ":p");
  assert.match(s, /nix-repl> :p pkgs\n\{\n  hello = 1;\n  nested = \{ deeper = 3; \};\n  world = 2;\n\}\n/);

  // a derivation prints as its .drv path, a nested set to one level
  type('{ d = derivation { name = "x"; system = "x"; builder = "/bin/sh"; }; s = { t = { u = 1; }; }; }');
  key("Enter");
  s = await waitPrompts(++n, "the derivation");
  assert.match(s, /\{\n  d = «derivation \/nix\/store\/safnr1ywsblyl5qfbca0178m104hzxaw-x\.drv»;\n  s = \{ \.\.\. \};\n\}\n/);

  // :l of a file that is a function: called with its defaults
  type(":l fn.nix");
  key("Enter");
  s = await waitPrompts(++n, ":l");
  assert.match(s, /Added 2 variables\./);
  type("message");
  key("Enter");
  s = await waitPrompts(++n, "a loaded name");
  assert.match(s, /nix-repl> message\n"hello world"\n/);

  // Ctrl-C on a typed line: dropped, back to the prompt
  type("this line is dropped");
  key("C-c");
  s = await waitPrompts(++n, "the prompt after Ctrl-C on a line");
  assert.match(s, /this line is dropped\^C\nnix-repl>$/m);

  // Ctrl-C during an evaluation: back to the prompt, the scope kept. (f 1
  // may stop by itself first, on the call depth limit: then the Ctrl-C
  // meets an empty prompt, which it leaves as it is.)
  const atEmptyPrompt = (x: string) => /^nix-repl>$/m.test(x.trimEnd().split("\n").pop() ?? "");
  type("let f = x: f x; in f 1");
  key("Enter");
  await new Promise((r) => setTimeout(r, 300));
  key("C-c");
  s = await waitFor((x) => /f x; in f 1\n[\s\S]*nix-repl>/.test(x) && atEmptyPrompt(x), "the prompt after Ctrl-C during f 1");
  type("builtins.foldl' builtins.add 0 (builtins.genList (x: x) 1000000000)");
  key("Enter");
  await new Promise((r) => setTimeout(r, 1500));
  key("C-c");
  s = await waitFor((x) => /genList \(x: x\) 1000000000\)\nerror: interrupted by the user\n/.test(x) && atEmptyPrompt(x), "the prompt after Ctrl-C during a long fold");
  type("pkgs.hello");
  key("Enter");
  s = await waitFor((x) => /nix-repl> pkgs\.hello\n1\n/.test(x), "the scope after an interrupt");

  // Ctrl-D exits; the history is kept for the next session
  key("C-d");
  await waitFor(() => tmux("has-session", "-t", "repl").status !== 0 || /\[exited\]|Pane is dead/.test(screen()), "the repl to exit", 10_000).catch(() => "");
  const hist = readFileSync(join(work, "home", "repl-history"), "utf8");
  assert.match(hist, /^pkgs\.hello \+ 41$/m);
  assert.doesNotMatch(hist, /this line is dropped/);
  startRepl();
  await waitPrompts(1, "the second session's prompt");
  key("Up");
  await waitFor((x) => /nix-repl> pkgs\.hello$/m.test(x), "the last input recalled with Up");
  key("Up");
  await waitFor((x) => /nix-repl> builtins\.foldl'/.test(x), "the input before it");
});

const canBuild = spawnSync("sh", ["-c", "command -v bwrap && test -x /bin/bash-static && test -x /bin/busybox"]).status === 0;

test("repl in a terminal: :b builds a derivation as nix repl prints it, :log shows its log", { skip: !haveTmux ? "tmux not installed" : !canBuild ? "building needs bwrap, /bin/bash-static and /bin/busybox" : false, timeout: 180_000 }, async () => {
  // stderr (:log's "got build log for ..." note) is kept in a file
  startRepl(join(work, "stderr"));
  let n = 1;
  await waitPrompts(n, "the first prompt");
  const salt = `repl-pty-${process.pid}-${Date.now()}`;
  type(`t = (import ${join(repoRoot, "examples")} { salt = "${salt}"; }).trivial`);
  key("Enter");
  await waitPrompts(++n, "the binding");
  type(":b t");
  key("Enter");
  let s = await waitPrompts(++n, ":b", 120_000);
  const m = /nix-repl> :b t\n(?:.*\n)*?building '(\/nix\/store\/[a-z0-9]{32}-trivial\.drv)'\.\.\.\n\nThis derivation produced the following outputs:\n  out -> (\/nix\/store\/[a-z0-9]{32}-trivial)\n/.exec(s);
  assert.ok(m, `no build and outputs after :b; screen:\n${s}`);
  assert.equal(readFileSync(m[2], "utf8"), salt + "\n");
  type(":log t");
  key("Enter");
  await waitPrompts(++n, ":log");
  // the note goes to stderr, as nix repl's
  assert.ok(readFileSync(join(work, "stderr"), "utf8").includes(`got build log for '${m[1]}' from 'local'\n`), ":log found no log");
  type(":b 1");
  key("Enter");
  s = await waitPrompts(++n, ":b of a non-derivation");
  // the error goes to stderr, as nix repl's
  assert.match(s, /nix-repl> :b 1\n/);
  assert.ok(readFileSync(join(work, "stderr"), "utf8").includes("error: expression does not evaluate to a derivation, so I can't build it\n"), ":b 1 gave no error");
});
