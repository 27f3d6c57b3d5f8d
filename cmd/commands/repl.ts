// `tvix repl`: interactive Nix read-eval-print loop (like nix repl). The
// terminal stays on the main thread; evaluation runs on a big-stack worker
// (cmd/repl-task.ts) that keeps the session's bindings.
import type { Command } from "commander";
import { lazyModule } from "../../core/lazy-module";
import { startTaskWorker } from "../bigstack";
import { TVIX_VERSION } from "../../core/version";

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function register(program: Command): void {
  program
    .command("repl")
    .description("interactive Nix read-eval-print loop (like nix repl)")
    .option("-I, --include <path>", "add a search path entry (prefix=path or path)", collect, [])
    .action(async (opts: { include: string[] }) => {
      const tty = process.stdin.isTTY && process.stdout.isTTY;
      const worker = startTaskWorker("repl", { nixPath: opts.include, cwd: process.cwd() });
      const rl = lazyModule<typeof import("node:readline")>("node:readline").createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: "nix-repl> " });
      if (tty) process.stdout.write(`tvix-ts ${TVIX_VERSION} repl\nType :? for help.\n\n`);
      let pending: ((r: { quit: boolean }) => void) | null = null;
      worker.on("message", (m: { out?: string; done?: boolean; quit?: boolean; exitCode?: number }) => {
        if (m.out) process.stdout.write(m.out);
        if (m.done && pending) {
          const p = pending;
          pending = null;
          p({ quit: !!m.quit });
        }
      });
      const ask = (line: string) => new Promise<{ quit: boolean }>((resolve) => {
        pending = resolve;
        worker.postMessage({ line });
      });
      if (tty) rl.prompt();
      let quit = false;
      for await (const line of rl) {
        const r = await ask(line);
        if (r.quit) {
          quit = true;
          break;
        }
        if (tty) rl.prompt();
      }
      if (!quit) await ask(":q");
      rl.close();
      await new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    });
}
