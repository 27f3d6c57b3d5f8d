// Node's internal bindings through process.binding, for the few places where
// the public module costs more to load than the program uses of it (see
// docs/packaging.md). process.binding is deprecated: the warning it would
// print is held back while it is called.

/** The binding `name` (e.g. "crypto", "v8"), or null where this Node does not give it. */
export function nodeBinding<T>(name: string): Partial<T> | null {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return (process as unknown as { binding(name: string): Partial<T> }).binding(name);
  } catch {
    return null;
  } finally {
    process.noDeprecation = quiet;
  }
}
