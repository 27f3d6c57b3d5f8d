// Progress display for `tvix build`: on a terminal, a live ink view (running
// builds with their last log line, done/remaining counts, substitutions with
// bytes); otherwise plain lines on stderr, as nix-build prints them.
import type { SchedulerEvent } from "../builders/scheduler";
import { formatBytes } from "./progress";

export interface BuildProgress {
  onEvent(e: SchedulerEvent): void;
  finish(): Promise<void>;
}

/** "/nix/store/<hash>-hello-2.12.drv" -> "hello-2.12". */
export function shortName(path: string): string {
  return path.replace(/^.*\/[0-9a-z]{32}-/, "").replace(/\.drv$/, "");
}

/** "ssh-ng://root@builder1" -> "root@builder1" (what the live view shows of a machine). */
export function hostOf(storeUri: string): string {
  return storeUri.replace(/^ssh-ng:\/\//, "");
}

const mib = (n: number) => (n / (1024 * 1024)).toFixed(2);

/** Nix's announcement of what will happen (also what --dry-run prints). */
export function describePlan(e: Extract<SchedulerEvent, { type: "plan" }>): string {
  let s = "";
  if (e.builds.length > 0) {
    s += e.builds.length === 1 ? "this derivation will be built:\n" : `these ${e.builds.length} derivations will be built:\n`;
    for (const d of [...e.builds].sort()) s += `  ${d}\n`;
  }
  if (e.substitutions.length > 0) {
    const nar = e.substitutions.reduce((n, x) => n + x.narSize, 0);
    const dl = e.substitutions.every((x) => x.downloadSize !== undefined) ? e.substitutions.reduce((n, x) => n + x.downloadSize!, 0) : nar;
    const n = e.substitutions.length;
    s += `${n === 1 ? "this path" : `these ${n} paths`} will be fetched (${mib(dl)} MiB download, ${mib(nar)} MiB unpacked):\n`;
    for (const x of [...e.substitutions].sort((a, b) => (a.path < b.path ? -1 : 1))) s += `  ${x.path}\n`;
  }
  return s;
}

/** Build output as whole lines prefixed with the derivation's name (as `nix build -L`). */
class PrefixedLines {
  private readonly partial = new Map<string, string>();
  private readonly dec = new TextDecoder();

  feed(drvPath: string, chunk: Uint8Array): string[] {
    const lines = ((this.partial.get(drvPath) ?? "") + this.dec.decode(chunk, { stream: true })).split("\n");
    this.partial.set(drvPath, lines.pop()!);
    return lines.map((l) => `${shortName(drvPath)}> ${l}`);
  }

  /** The unfinished last line of a build that ended. */
  end(drvPath: string): string[] {
    const rest = this.partial.get(drvPath);
    this.partial.delete(drvPath);
    return rest ? [`${shortName(drvPath)}> ${rest}`] : [];
  }
}

export function plainBuildProgress(printLogs: boolean, write: (s: string) => void = (s) => process.stderr.write(s)): BuildProgress {
  const logs = new PrefixedLines();
  return {
    onEvent(e) {
      if (e.type === "plan") write(describePlan(e));
      else if (e.type === "build-start") write(`building '${e.drvPath}'${e.machine ? ` on '${e.machine}'` : ""}...\n`);
      else if (e.type === "copy") write(`copying path '${e.path}' ${e.direction} '${e.machine}'...\n`);
      else if (e.type === "subst-start") write(`copying path '${e.path}' from '${e.from}'...\n`);
      else if (e.type === "warning") write(`warning: ${e.message}\n`);
      else if (e.type === "build-log" && printLogs) for (const l of logs.feed(e.drvPath, e.chunk)) write(l + "\n");
      else if ((e.type === "build-done" || e.type === "build-failed") && printLogs) for (const l of logs.end(e.drvPath)) write(l + "\n");
    },
    async finish() {},
  };
}

interface Running {
  name: string;
  machine?: string;
  line: string;
  started: number;
}

export async function inkBuildProgress(printLogs: boolean): Promise<BuildProgress> {
  const React = (await import("react")).default;
  const { render, Box, Text, Static } = await import("ink");
  const h = React.createElement;
  const st = {
    builds: 0,
    buildsDone: 0,
    failed: 0,
    substs: 0,
    substsDone: 0,
    bytesTotal: 0,
    bytesDone: 0,
    running: new Map<string, Running>(),
    copying: new Map<string, { size: number; got: number }>(),
    // lines printed above the live view (logs with -L, warnings)
    printed: [] as { key: number; text: string }[],
  };
  let key = 0;
  const print = (text: string) => st.printed.push({ key: key++, text });
  const view = () =>
    h(
      Box,
      { flexDirection: "column" },
      h(Static, { items: st.printed, children: (l: unknown) => h(Text, { key: (l as { key: number }).key }, (l as { text: string }).text) }),
      h(
        Text,
        { bold: true },
        `[${st.buildsDone}/${st.builds} built${st.failed ? `, ${st.failed} failed` : ""}` +
          (st.substs ? `, ${st.substsDone}/${st.substs} copied (${formatBytes(st.bytesDone)}/${formatBytes(st.bytesTotal)})` : "") +
          "]",
      ),
      ...[...st.running].slice(0, 8).map(([d, r]) =>
        h(Text, { key: d, color: "cyan", wrap: "truncate-end" }, `  building ${r.name}${r.machine ? ` on ${hostOf(r.machine)}` : ""} (${Math.floor((Date.now() - r.started) / 1000)}s)${r.line ? `: ${r.line}` : ""}`),
      ),
      ...[...st.copying].slice(0, 4).map(([p, c]) =>
        h(Text, { key: p, color: "magenta", wrap: "truncate-end" }, `  copying ${shortName(p)} ${c.size ? Math.floor((100 * c.got) / c.size) : 100}%`),
      ),
    );
  const app = render(view(), { patchConsole: false, stdout: process.stderr });
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    if (!timer) timer = setTimeout(() => ((timer = null), app.rerender(view())), 100);
  };
  const ticker = setInterval(schedule, 1000);
  const logs = new PrefixedLines();
  return {
    onEvent(e) {
      if (printLogs && e.type === "build-log") for (const l of logs.feed(e.drvPath, e.chunk)) print(l);
      if (printLogs && (e.type === "build-done" || e.type === "build-failed")) for (const l of logs.end(e.drvPath)) print(l);
      switch (e.type) {
        case "plan":
          st.builds = e.builds.length;
          st.substs = e.substitutions.length;
          st.bytesTotal = e.substitutions.reduce((n, x) => n + x.narSize, 0);
          break;
        case "build-start":
          st.running.set(e.drvPath, { name: shortName(e.drvPath), machine: e.machine, line: "", started: Date.now() });
          break;
        case "build-log": {
          const r = st.running.get(e.drvPath);
          if (r) r.line = e.log.lastLine;
          break;
        }
        case "build-done":
          st.running.delete(e.drvPath);
          st.buildsDone++;
          break;
        case "build-failed":
          st.running.delete(e.drvPath);
          st.failed++;
          break;
        case "subst-start":
          st.copying.set(e.path, { size: e.narSize, got: 0 });
          break;
        case "subst-progress": {
          const c = st.copying.get(e.path);
          if (c) c.got += e.bytes;
          st.bytesDone += e.bytes;
          break;
        }
        case "subst-done":
          st.copying.delete(e.path);
          st.substsDone++;
          break;
        case "warning":
          print(`warning: ${e.message}`);
          break;
      }
      schedule();
    },
    async finish() {
      clearInterval(ticker);
      if (timer) clearTimeout(timer);
      st.running.clear();
      st.copying.clear();
      app.rerender(view());
      app.unmount();
      await app.waitUntilExit();
    },
  };
}
