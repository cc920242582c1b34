// Waiting for something the gateway does in the background, such as a token
// fetched in a timer after the request that caused it has been answered.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

/** The first value `read` gives within `timeoutMs`; fails with `what` if none comes. */
export async function eventually<T>(
  read: () => T | undefined | Promise<T | undefined>,
  what = "timed out waiting",
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) {
      return value;
    }
    assert.ok(Date.now() < deadline, what);
    await sleep(20);
  }
}
