// Node built-in modules loaded on first use. Every built-in a program
// imports is compiled at start-up (child_process brings net and dgram,
// readline and fs/promises their own), so the ones only some commands need
// are loaded where they are used.
import { createRequire } from "node:module";

const nodeRequire = createRequire(import.meta.url);

/** A Node built-in module, loaded the first time it is asked for. */
export function lazyModule<T>(name: string): T {
  return nodeRequire(name) as T;
}
