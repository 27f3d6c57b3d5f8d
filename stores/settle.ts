// Waiting for a group of writes: every one settles before the caller goes on
// (none is left running behind an error), then the first failure is thrown.

/** Waits for all of `promises`; throws the first one's reason that was rejected. */
export async function settleAll(promises: Iterable<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
