import assert from "node:assert/strict";
import { before, describe, it, mock } from "node:test";

import { DEFAULT_CONFIG } from "../support/simulator/constants.ts";
import { createTokenKeys, TokenService, type TokenKeys } from "../support/simulator/tokens.ts";


let keys: TokenKeys;

before(async () => {
  keys = await createTokenKeys();
});


describe("the token service", () => {
  it("reports expires_in one second short of the lifetime even when issuing crosses a second", () => {
    // Each reading of the clock is 600 ms after the one before, starting just
    // before a second ends: any second reading lands in the next second.
    let clock = 1_700_000_000_700;
    const now = mock.method(Date, "now", () => {
      const reading = clock;
      clock += 600;
      return reading;
    });
    try {
      const service = new TokenService(keys, () => DEFAULT_CONFIG);
      const issued = service.issueAccessToken({ tenantId: "t", audience: "a", oid: "o", appid: "p" });
      assert.equal(issued.expiresIn, DEFAULT_CONFIG.tokenLifetimeSeconds - 1);
      assert.equal(issued.expiresOn - issued.notBefore, DEFAULT_CONFIG.tokenLifetimeSeconds);
    } finally {
      now.mock.restore();
    }
  });
});
