// `tvix repl`: interactive Nix read-eval-print loop (like nix repl). The
// terminal stays on the main thread (node:readline: line editing, history
// kept in $TVIX_HOME/repl-history, tab completion); evaluation runs on a
// big-stack worker (cmd/repl-task.ts) that keeps the session's bindings.
//
// Ctrl-C clears the line being typed, or interrupts the evaluation in
// progress: the worker is asked to stop, and if it does not within a
// second (a loop that evaluates no thunks never looks) it is replaced by a
// new one that replays the inputs that made the scope. Ctrl-D exits.
import type { Command } from "commander";
import type { Worker } from "node:worker_threads";
import { lazyModule } from "../../core/lazy-module";
import { startTaskWorker } from "../bigstack";
import { TVIX_VERSION } from "../../core/version";
import { useColour } from "../output";
import { mkdirs } from "../../stores/mkdirs";
import type { ReplResult } from "../../eval/repl";
import { encodeEscapedBytes } from "../../core/bytes";

const PROMPT = "nix-repl> ";
const CONTINUATION = " ".repeat(PROMPT.length);
const HISTORY_SIZE = 1000;

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

type Reply = ReplResult & { done?: boolean; completion?: { word: string; completions: string[] } };

/** The terminal side's outputs: values for stdout, errors, traces and notes for stderr (as nix repl). */
interface ReplOutput {
  out(s: string): void;
  err(s: string): void;
}

/** One evaluation worker and the inputs that shaped its scope (to rebuild it). */
class Evaluator {
  private worker!: Worker;
  private readonly interrupt = new Int32Array(new SharedArrayBuffer(4));
  private waiting: ((r: Reply) => void) | null = null;
  private readonly scoped: string[] = [];

  constructor(private readonly payload: { nixPath: string[]; cwd: string; colour: boolean; storeUrl?: string }, private readonly write: ReplOutput) {
    this.start();
  }

  private start(): void {
    this.worker = startTaskWorker("repl", { ...this.payload, interrupt: this.interrupt });
    this.worker.on("message", (m: Reply) => {
      // output while evaluating: builtins.trace (stderr), build logs
      if (!m.done && !m.completion) {
        if (m.out) this.write.out(m.out);
        if (m.err) this.write.err(m.err);
      }
      if ((m.done || m.completion) && this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(m);
      }
    });
  }

  get busy(): boolean {
    return this.waiting !== null;
  }

  private ask(msg: unknown): Promise<Reply> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.worker.postMessage(msg);
    });
  }

  async eval(line: string): Promise<Reply> {
    const r = await this.ask({ line });
    if (r.scoped) this.scoped.push(line);
    return r;
  }

  complete(line: string): Promise<Reply> {
    return this.ask({ complete: line });
  }

  /** Ctrl-C during an evaluation. */
  stop(): void {
    Atomics.store(this.interrupt, 0, 1);
    const pending = this.waiting;
    setTimeout(() => {
      if (this.waiting !== pending || pending === null) return; // it stopped by itself
      // still running: a fresh worker with the same scope
      this.waiting = null;
      void this.worker.terminate();
      Atomics.store(this.interrupt, 0, 0);
      this.start();
      const replay = [...this.scoped];
      this.scoped.length = 0;
      void (async () => {
        for (const l of replay) await this.eval(l);
        pending({ out: "", err: "error: interrupted by the user\n", done: true });
      })();
    }, 1000).unref();
  }

  async quit(): Promise<void> {
    if (this.busy) {
      await this.worker.terminate();
      return;
    }
    await this.eval(":q");
    await new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
  }
}

async function historyFile(): Promise<string> {
  const { tvixHome } = await import("../../stores/url");
  return lazyModule<typeof import("node:path")>("node:path").join(tvixHome(), "repl-history");
}

function loadHistory(file: string): string[] {
  const fs = lazyModule<typeof import("node:fs")>("node:fs");
  try {
    // readline keeps the newest first
    return fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function appendHistory(file: string, line: string): void {
  const fs = lazyModule<typeof import("node:fs")>("node:fs");
  try {
    mkdirs(lazyModule<typeof import("node:path")>("node:path").dirname(file));
    fs.appendFileSync(file, line.replace(/\n/g, " ") + "\n");
  } catch {
    /* history is a convenience: a read-only home must not stop the repl */
  }
}

/** :e: the editor on the file, at the line (as nix repl: $EDITOR, then vi). */
function edit(target: { file: string; line: number }): void {
  const editor = process.env.EDITOR || "vi";
  const cp = lazyModule<typeof import("node:child_process")>("node:child_process");
  const args = /(^|\/)(vi|vim|nvim|emacs|nano|micro|kak|hx)$/.test(editor.split(" ")[0]) ? [`+${target.line}`, target.file] : [target.file];
  const r = cp.spawnSync("sh", ["-c", `${editor} "$@"`, "editor", ...args], { stdio: "inherit" });
  if (r.error) process.stderr.write(`error: cannot run the editor '${editor}': ${r.error.message}\n`);
}

export async function runRepl(opts: { include: string[]; store?: string }): Promise<void> {
  const tty = !!(process.stdin.isTTY && process.stdout.isTTY);
  // a Nix string's bytes that are not UTF-8 (lone surrogates here) are written as themselves
  const out = (s: string) => process.stdout.write(encodeEscapedBytes(s));
  const err = (s: string) => process.stderr.write(encodeEscapedBytes(s));
  const ev = new Evaluator({ nixPath: opts.include, cwd: process.cwd(), colour: tty && useColour(process.stdout), storeUrl: opts.store }, { out, err });
  const readline = lazyModule<typeof import("node:readline")>("node:readline");
  const histFile = tty ? await historyFile() : "";
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: tty,
    prompt: PROMPT,
    history: tty ? loadHistory(histFile) : [],
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: tty
      ? (line: string, cb: (err: null, r: [string[], string]) => void) => {
          if (ev.busy) return cb(null, [[], line]);
          void ev.complete(line).then((r) => cb(null, [r.completion?.completions ?? [], r.completion?.word ?? line]));
        }
      : undefined,
  });
  if (tty) out(`tvix-ts ${TVIX_VERSION} repl\nType :? for help.\n`);
  let pending = ""; // the lines of an incomplete input
  const reset = () => {
    pending = "";
    rl.setPrompt(PROMPT);
  };
  rl.on("SIGINT", () => {
    if (ev.busy) {
      ev.stop();
      return;
    }
    // the line (and an incomplete input) is dropped; the repl goes on
    out("^C\n");
    (rl as unknown as { line: string; cursor: number }).line = "";
    (rl as unknown as { line: string; cursor: number }).cursor = 0;
    reset();
    rl.prompt();
  });
  let closed = false;
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  rl.on("line", (l) => {
    lines.push(l);
    wake?.();
  });
  rl.on("close", () => {
    closed = true;
    wake?.();
  });
  if (tty) rl.prompt();
  for (;;) {
    if (lines.length === 0) {
      if (closed) break;
      await new Promise<void>((r) => (wake = r));
      wake = null;
      continue;
    }
    const line = lines.shift()!;
    const input = pending === "" ? line : `${pending}\n${line}`;
    if (tty && line.trim() !== "") appendHistory(histFile, line);
    const r = await ev.eval(input);
    if (r.incomplete) {
      pending = input;
      rl.setPrompt(CONTINUATION);
      if (tty) rl.prompt();
      continue;
    }
    reset();
    if (r.out) out(r.out);
    if (r.err) err(r.err);
    if (r.note) err(r.note);
    if (r.quit) {
      rl.close();
      return;
    }
    if (r.edit) {
      rl.pause();
      edit(r.edit);
      rl.resume();
      const rr = await ev.eval(":r");
      if (rr.out) out(rr.out);
      if (rr.err) err(rr.err);
      if (rr.note) err(rr.note);
    }
    if (tty) {
      out("\n");
      rl.prompt();
    }
  }
  if (tty) out("\n");
  if (pending !== "") err("error: the input ended inside an open bracket, string or 'let'\n");
  await ev.quit();
}

export function register(program: Command): void {
  program
    .command("repl")
    .description("interactive Nix read-eval-print loop (like nix repl)")
    .option("-I, --include <path>", "add a search path entry (prefix=path or path)", collect, [])
    .option("--store <url>", "the store that store paths are read from (default: $TVIX_STORE or the local store)")
    .addHelpText(
      "after",
      `
Keys: Tab completes names and attribute paths, Ctrl-C clears the line or
stops an evaluation, Ctrl-D exits. History is kept in $TVIX_HOME/repl-history.
Type :? in the repl for its commands.

Examples:
  tvix repl
  tvix repl -I nixpkgs=/path/to/nixpkgs
  echo '1 + 2' | tvix repl`,
    )
    .action(async (opts: { include: string[]; store?: string }) => {
      await runRepl(opts);
    });
}
