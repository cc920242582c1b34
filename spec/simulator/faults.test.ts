import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { setTimeout as wait } from "node:timers/promises";

import {
  COGNITIVE_SERVICES_RESOURCE,
  SIM_API_KEY,
  SIM_IDENTITY_HEADER,
  SIM_SECRET_APP,
  SIM_TENANT_ID,
  startSimulator,
  type EndpointName,
  type Simulator,
} from "../support/simulator/index.ts";
import { call, form, isRecord, jsonOf, type Answer } from "./helpers.ts";


let simulator: Simulator;

before(async () => {
  simulator = await startSimulator();
});

after(async () => {
  await simulator.stop();
});

beforeEach(() => {
  simulator.control.reset();
});


const requests: Record<"imds" | "appservice" | "entra" | "openai", () => Promise<Answer>> = {
  imds: () =>
    call(`${simulator.httpUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${COGNITIVE_SERVICES_RESOURCE}`, {
      headers: { Metadata: "true" },
    }),
  appservice: () =>
    call(`${simulator.httpUrl}/msi/token?api-version=2019-08-01&resource=${COGNITIVE_SERVICES_RESOURCE}`, {
      headers: { "X-IDENTITY-HEADER": SIM_IDENTITY_HEADER },
    }),
  entra: () =>
    call(`${simulator.httpsUrl}/${SIM_TENANT_ID}/oauth2/v2.0/token`, {
      ...form({
        grant_type: "client_credentials",
        client_id: SIM_SECRET_APP.clientId,
        client_secret: SIM_SECRET_APP.clientSecret ?? "",
        scope: `${COGNITIVE_SERVICES_RESOURCE}/.default`,
      }),
      caPath: simulator.caPath,
    }),
  openai: () =>
    call(`${simulator.httpUrl}/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21`, {
      method: "POST",
      headers: { "api-key": SIM_API_KEY, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    }),
};

const imds = requests.imds;


describe("faults", () => {
  it("answers the next N requests with the status and Retry-After, then recovers", async () => {
    simulator.control.addFault({ endpoint: "imds", status: 429, retryAfter: 7, count: 2 });

    const answers = [await imds(), await imds(), await imds()];

    assert.deepEqual(answers.map((answer) => answer.status), [429, 429, 200]);
    assert.equal(answers[0].headers["retry-after"], "7");
    assert.equal(jsonOf(answers[0]).error, "too_many_requests");
    assert.deepEqual(
      simulator.control.journal({ endpoint: "imds" }).map((entry) => entry.fault),
      ["status", "status", undefined],
    );
    assert.equal(simulator.control.counters().tokensIssued.imds, 1);
  });

  it("sends retry-after-ms and x-ms-retry-after-ms when asked", async () => {
    simulator.control.addFault({ endpoint: "imds", status: 503, retryAfterMs: 1500 });
    const answer = await imds();
    assert.equal(answer.status, 503);
    assert.equal(answer.headers["retry-after-ms"], "1500");
    assert.equal(answer.headers["x-ms-retry-after-ms"], "1500");
  });

  const shapes: ["imds" | "appservice" | "entra" | "openai", (body: Record<string, unknown>) => boolean][] = [
    ["imds", (body) => typeof body.error === "string" && typeof body.error_description === "string"],
    ["appservice", (body) => body.statusCode === 500 && typeof body.message === "string"],
    ["entra", (body) => Array.isArray(body.error_codes) && typeof body.trace_id === "string"],
    ["openai", (body) => isRecord(body.error) && body.error.code === "500"],
  ];
  for (const [endpoint, fits] of shapes) {
    it(`shapes a status fault on ${endpoint} like ${endpoint}'s own errors`, async () => {
      simulator.control.addFault({ endpoint, status: 500 });
      const answer = await requests[endpoint]();
      assert.equal(answer.status, 500);
      assert.ok(fits(jsonOf(answer)), answer.body);
    });
  }

  it("applies a windowed fault to every request until the window closes", async () => {
    simulator.control.addFault({ endpoint: "imds", status: 503, durationMs: 1_000 });

    const during = [await imds(), await imds(), await imds()];
    await wait(1_100);
    const afterwards = await imds();

    assert.deepEqual(during.map((answer) => answer.status), [503, 503, 503]);
    assert.equal(afterwards.status, 200);
    assert.deepEqual(simulator.control.faults(), []);
  });

  it("drops the connection without an answer", async () => {
    simulator.control.addFault({ endpoint: "imds", drop: true });

    await assert.rejects(imds(), (error: unknown) => error instanceof Error && /socket hang up|ECONNRESET/.test(error.message));
    const [entry] = simulator.control.journal({ endpoint: "imds" });
    assert.equal(entry.status, 0);
    assert.equal(entry.fault, "drop");
    assert.equal((await imds()).status, 200);
  });

  it("answers 200 with a body that is not valid JSON", async () => {
    simulator.control.addFault({ endpoint: "entra", malformed: true });
    const answer = await requests.entra();
    assert.equal(answer.status, 200);
    assert.throws(() => JSON.parse(answer.body), SyntaxError);
    assert.equal(simulator.control.journal({ endpoint: "entra" })[0].fault, "malformed");
  });

  it("delays the answer, then answers normally", async () => {
    simulator.control.addFault({ endpoint: "openai", delayMs: 200 });
    const started = performance.now();
    const answer = await requests.openai();
    assert.ok(performance.now() - started >= 190, "answered too soon");
    assert.equal(answer.status, 200);
    assert.equal(simulator.control.journal({ endpoint: "openai" })[0].fault, "delay");
  });

  it("leaves other endpoints alone", async () => {
    simulator.control.addFault({ endpoint: "appservice", status: 500 });
    assert.equal((await imds()).status, 200);
    assert.equal(simulator.control.faults().length, 1);
  });

  it("forgets every fault on clearFaults", async () => {
    simulator.control.addFault({ endpoint: "imds", status: 500, count: 5 });
    simulator.control.clearFaults();
    assert.equal((await imds()).status, 200);
  });

  const invalid: [string, { endpoint: EndpointName; status?: number; drop?: true; malformed?: true; count?: number }][] = [
    ["two effects at once", { endpoint: "imds", status: 500, drop: true }],
    ["no effect", { endpoint: "imds", count: 2 }],
    ["a status that is not HTTP's", { endpoint: "imds", status: 42 }],
    ["a count of zero", { endpoint: "imds", status: 500, count: 0 }],
    ["no endpoint to apply to", { endpoint: "unmatched", status: 500 }],
  ];
  for (const [what, spec] of invalid) {
    it(`refuses a fault with ${what}`, () => {
      assert.throws(() => simulator.control.addFault(spec), RangeError);
    });
  }
});
