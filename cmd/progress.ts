// Progress display for `tvix copy`: a small ink view when stdout is a TTY,
// plain lines on stderr otherwise.
import { useColour } from "./output";
import type { CopyEvent } from "../stores/copy";

export interface CopyProgress {
  onEvent(e: CopyEvent): void;
  finish(summary: string): Promise<void>;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

interface State {
  total: number;
  done: number;
  bytesTotal: number;
  bytesDone: number;
  active: Map<string, { size: number; got: number }>;
}

export function plainProgress(from: string, to: string, write: (s: string) => void = (s) => process.stderr.write(s)): CopyProgress {
  return {
    onEvent(e) {
      if (e.type === "plan") write(`copying ${e.total} paths (${formatBytes(e.bytes)}), ${e.present} already in '${to}'\n`);
      else if (e.type === "start") write(`copying path '${e.path}' from '${from}' to '${to}'...\n`);
      else if (e.type === "failed") write(`failed to copy '${e.path}'\n`);
    },
    async finish(summary) {
      write(summary + "\n");
    },
  };
}

export async function inkProgress(from: string, to: string): Promise<CopyProgress> {
  const React = (await import("react")).default;
  const { render, Box, Text } = await import("ink");
  const h = React.createElement;
  // NO_COLOR (or TERM=dumb): the same view without colours or bold
  const colour = useColour(process.stdout);
  const st: State = { total: 0, done: 0, bytesTotal: 0, bytesDone: 0, active: new Map() };
  const view = (summary?: string) =>
    h(
      Box,
      { flexDirection: "column" },
      h(Text, { bold: colour }, `copying from ${from} to ${to}`),
      h(Text, null, `${st.done}/${st.total} paths, ${formatBytes(st.bytesDone)}/${formatBytes(st.bytesTotal)}`),
      ...[...st.active].slice(0, 8).map(([p, a]) =>
        h(Text, { key: p, color: colour ? "cyan" : undefined }, `  ${p.replace(/^.*\/[0-9a-z]{32}-/, "")}  ${a.size ? Math.floor((100 * a.got) / a.size) : 100}%`),
      ),
      summary ? h(Text, { color: colour ? "green" : undefined }, summary) : null,
    );
  const app = render(view(), { patchConsole: false });
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    if (!timer) timer = setTimeout(() => ((timer = null), app.rerender(view())), 80);
  };
  return {
    onEvent(e) {
      if (e.type === "plan") {
        st.total = e.total;
        st.bytesTotal = e.bytes;
      } else if (e.type === "start") st.active.set(e.path, { size: e.narSize, got: 0 });
      else if (e.type === "progress") {
        const a = st.active.get(e.path);
        if (a) a.got += e.bytes;
        st.bytesDone += e.bytes;
      } else if (e.type === "done" || e.type === "failed") {
        st.active.delete(e.path);
        if (e.type === "done") st.done++;
      }
      schedule();
    },
    async finish(summary) {
      if (timer) clearTimeout(timer);
      app.rerender(view(summary));
      app.unmount();
      await app.waitUntilExit();
    },
  };
}
