// Build logs, kept per derivation as Nix keeps them (`nix log`), under
// $TVIX_HOME/log/drvs/<first two characters>/<rest of the .drv basename>.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

export class LogStore {
  constructor(readonly dir: string) {}

  pathFor(drvPath: string): string {
    const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
    return join(this.dir, "drvs", base.slice(0, 2), base.slice(2));
  }

  /** Starts (truncates) the log of a build. */
  open(drvPath: string): BuildLog {
    const p = this.pathFor(drvPath);
    mkdirSync(dirname(p), { recursive: true });
    return new BuildLog(openSync(p, "w", 0o644));
  }

  read(drvPath: string): Uint8Array | null {
    const p = this.pathFor(drvPath);
    return existsSync(p) ? readFileSync(p) : null;
  }
}

/** An open log: appends, and remembers the last lines for error messages. */
export class BuildLog {
  private partial = "";
  private readonly tail: string[] = [];
  private readonly dec = new TextDecoder();

  constructor(private fd: number | null, private readonly keepLines = 10) {}

  write(chunk: Uint8Array): void {
    if (this.fd !== null) writeSync(this.fd, chunk);
    const text = this.partial + this.dec.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.partial = lines.pop()!;
    for (const l of lines) this.pushLine(l);
  }

  /** The last complete line written (what a progress view shows). */
  get lastLine(): string {
    return this.partial || this.tail[this.tail.length - 1] || "";
  }

  private pushLine(l: string): void {
    this.tail.push(l.replace(/\r$/, ""));
    if (this.tail.length > this.keepLines) this.tail.shift();
  }

  /** The last lines (the unfinished one included). */
  lastLines(): string[] {
    return this.partial ? [...this.tail, this.partial].slice(-this.keepLines) : [...this.tail];
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
