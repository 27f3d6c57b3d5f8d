// Errors meant for the user: printed as one "error: ..." line, never a JS stack
// ("error:" in red on a terminal unless NO_COLOR is set).
import { writeErr } from "./output";
export class UserError extends Error {
  constructor(message: string, public exitCode = 1) {
    super(message);
    this.name = "UserError";
  }
}

export class NotImplementedError extends UserError {
  constructor(what: string) {
    super(`not implemented: ${what}`);
    this.name = "NotImplementedError";
  }
}

export function reportFatal(e: unknown): number {
  if (e instanceof UserError) {
    writeErr(`error: ${e.message}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  // Errors from lower layers carry a message meant for users; only show the JS
  // stack when asked to, for debugging tvix itself.
  if (process.env.TVIX_DEBUG) process.stderr.write(`${err?.stack ?? String(e)}\n`);
  writeErr(`error: ${err?.message ?? String(e)}\n`);
  return 1;
}
