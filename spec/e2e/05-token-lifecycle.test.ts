// The token cache at gateway scale, on 4 workers: one token request per node,
// renewal in the background, outages ridden out on a valid token, failing
// fast when the identity is broken, a refused token dropped, and the token
// kept across a reload.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "../support/wait.ts";
import { CHAT, pluginConfig, simulatedAzure } from "./support/config.ts";
import { useStack, type Stack } from "./support/stack.ts";

const WORKERS = 4;
const UNKNOWN_CLIENT_ID = "0badc0de-0000-4000-8000-000000000001";

function imdsRequests(stack: Stack): number {
  return stack.sim.control.journal({ endpoint: "imds" }).length;
}

function managedIdentity(stack: Stack) {
  return {
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
    env: simulatedAzure(stack),
    workers: WORKERS,
  };
}

async function chat(stack: Stack): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  const response = await stack.post("/openai", CHAT);
  const body = await response.text();
  return { status: response.status, ms: performance.now() - started, body };
}

/** `total` requests, `concurrency` at a time. */
async function burst(stack: Stack, total: number, concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      statuses.push((await chat(stack)).status);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return statuses;
}

/**
 * Requests at a steady `perSecond` for `seconds`, not waiting for answers
 * before sending more. Each tick sends what the elapsed time calls for, so a
 * late timer on a busy machine does not lower the total.
 */
async function steady(stack: Stack, perSecond: number, seconds: number) {
  const results: Promise<{ status: number; ms: number; body: string }>[] = [];
  const tickMs = 50;
  const started = performance.now();
  const total = Math.round(perSecond * seconds);
  while (results.length < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * perSecond) / 1000) + 1);
    while (results.length < due) {
      results.push(chat(stack));
    }
    await sleep(tickMs);
  }
  return Promise.all(results);
}

describe("a cold start under concurrency", () => {
  const stack = useStack(managedIdentity);

  it("makes 1000 requests at concurrency 100 with exactly one token request", async () => {
    const statuses = await burst(stack, 1000, 100);
    assert.equal(statuses.filter((status) => status === 200).length, 1000);
    assert.equal(imdsRequests(stack), 1);
  });
});

describe("an IMDS outage longer than the refresh window", () => {
  // 24 s tokens are renewed 12 s in (half their life, under Azure's 300 s margin).
  const stack = useStack((stack) => {
    stack.sim.control.updateConfig({ tokenLifetimeSeconds: 24 });
    return managedIdentity(stack);
  });

  it("fails no request while the token is valid, and renews once IMDS is back", async () => {
    assert.equal((await chat(stack)).status, 200);
    stack.sim.control.addFault({ endpoint: "imds", status: 500, durationMs: 15_000 });

    const results = await steady(stack, 8, 18);
    const failed = results.filter((result) => result.status !== 200);
    assert.equal(failed.length, 0, `failed: ${failed.map((result) => result.body).join(", ")}`);

    const imds = stack.sim.control.journal({ endpoint: "imds" });
    assert.ok(imds.some((entry) => entry.status === 500), "no renewal was tried during the outage");
    assert.equal(imds.at(-1)?.status, 200, "the token was not renewed after the outage");
  });
});

describe("a slow token endpoint", () => {
  // 20 s tokens are renewed 10 s in; IMDS then takes 2 s to answer.
  const stack = useStack((stack) => {
    stack.sim.control.updateConfig({ tokenLifetimeSeconds: 20 });
    return managedIdentity(stack);
  });

  it("renews in the background: no request waits for it", async () => {
    assert.equal((await chat(stack)).status, 200);
    stack.sim.control.addFault({ endpoint: "imds", delayMs: 2_000, durationMs: 30_000 });

    const results = await steady(stack, 10, 14);
    assert.ok(results.every((result) => result.status === 200));
    const slowest = Math.max(...results.map((result) => result.ms));
    assert.ok(slowest < 2_000, `a request took ${Math.round(slowest)} ms`);
    assert.ok(imdsRequests(stack) >= 2, "the token was not renewed");
  });
});

describe("a broken identity under steady load", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true, azure_client_id: UNKNOWN_CLIENT_ID } }),
    env: simulatedAzure(stack),
    workers: WORKERS,
  }));

  it("answers every request with the identity's error and asks IMDS about once a second at most", async () => {
    const results = await steady(stack, 200, 10);
    for (const result of results) {
      assert.equal(result.status, 500);
      assert.match(result.body, new RegExp(`user-assigned identity ${UNKNOWN_CLIENT_ID} is not assigned to this host`));
    }
    const tokenRequests = imdsRequests(stack);
    assert.ok(tokenRequests >= 1 && tokenRequests <= 11, `${tokenRequests} token requests`);
  });
});

describe("a token Azure OpenAI refuses", () => {
  const stack = useStack(managedIdentity);

  it("is dropped, and exactly one new token is fetched", async () => {
    assert.equal((await burst(stack, 40, 8)).filter((status) => status === 200).length, 40);
    assert.equal(imdsRequests(stack), 1);

    stack.sim.control.addFault({ endpoint: "openai", status: 401, count: 1 });
    assert.equal((await chat(stack)).status, 401);
    // The replacement is fetched in the background; wait for it, then make sure no other follows.
    await waitFor(() => imdsRequests(stack) >= 2, "the refused token's replacement", 5_000);

    assert.equal((await burst(stack, 40, 8)).filter((status) => status === 200).length, 40);
    assert.equal(imdsRequests(stack), 2);
  });
});

describe("a reload", () => {
  const stack = useStack(managedIdentity);

  it("keeps the token: no new token request", async () => {
    await burst(stack, 20, 4);
    assert.equal(imdsRequests(stack), 1);
    await stack.gateway.reload();
    const statuses = await burst(stack, 40, 8);
    assert.ok(statuses.every((status) => status === 200));
    assert.equal(imdsRequests(stack), 1);
  });
});
