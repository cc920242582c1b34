// Waiting, bounded, for something that happens in the background: a gateway
// answering after start, its workers turning over after a reload, a token
// fetched in a timer after the request that caused it has been answered.

/** Resolves once `condition` holds; fails naming `what` when `timeoutMs` passes first. */
export async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) {
      return;
    }
    await new Promise((next) => setTimeout(next, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
