import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { SimulatorClient } from "../support/simulator/client.ts";
import {
  COGNITIVE_SERVICES_RESOURCE,
  DEFAULT_CONFIG,
  SIM_TENANT_ID,
  SIM_WORKLOAD_APP,
  type SimulatorInfo,
} from "../support/simulator/index.ts";
import { call, claimsOf, isRecord, jsonOf } from "./helpers.ts";


const MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "support", "simulator", "main.ts");

let child: ChildProcess;
let info: SimulatorInfo;
let client: SimulatorClient;


async function startProcess(): Promise<{ child: ChildProcess; info: SimulatorInfo }> {
  const started = spawn(process.execPath, ["--import", "tsx", MAIN], { stdio: ["ignore", "pipe", "inherit"] });
  if (started.stdout === null) {
    throw new Error("the simulator process has no stdout");
  }
  const lines = createInterface({ input: started.stdout });
  const [line]: unknown[] = await once(lines, "line");
  lines.close();
  const parsed: unknown = JSON.parse(String(line));
  assert.ok(isRecord(parsed));
  const { httpUrl, httpsUrl, caPath, controlUrl } = parsed;
  assert.ok(typeof httpUrl === "string" && typeof httpsUrl === "string");
  assert.ok(typeof caPath === "string" && typeof controlUrl === "string");
  return { child: started, info: { httpUrl, httpsUrl, caPath, controlUrl } };
}


function imds(): ReturnType<typeof call> {
  return call(`${info.httpUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${COGNITIVE_SERVICES_RESOURCE}`, {
    headers: { Metadata: "true" },
  });
}


before(async () => {
  ({ child, info } = await startProcess());
  client = new SimulatorClient(info.controlUrl);
});

after(() => {
  child.kill("SIGKILL");
});

beforeEach(async () => {
  await client.reset();
});


describe("the simulator process", () => {
  it("prints its addresses, all on loopback", () => {
    assert.match(info.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(info.httpsUrl, /^https:\/\/localhost:\d+$/);
    assert.equal(info.controlUrl, `${info.httpUrl}/_sim`);
    assert.ok(existsSync(info.caPath));
  });

  it("removes its temporary directory when it gets SIGTERM", async () => {
    const other = await startProcess();
    assert.ok(existsSync(other.info.caPath));
    other.child.kill("SIGTERM");
    const [code] = await once(other.child, "exit");
    assert.equal(code, 0);
    assert.equal(existsSync(other.info.caPath), false);
  });
});


describe("the control client", () => {
  it("reads the journal, filtered by endpoint, and never journals itself", async () => {
    await imds();
    await call(`${info.httpUrl}/nowhere`);

    const all = await client.journal();
    assert.deepEqual(all.map((entry) => entry.endpoint), ["imds", "unmatched"]);
    assert.equal((await client.journal({ endpoint: "imds" })).length, 1);
    assert.equal(all[0].headers.metadata, "true");
    await client.clearJournal();
    assert.deepEqual(await client.journal(), []);
  });

  it("reads the counters", async () => {
    await imds();
    const counters = await client.counters();
    assert.equal(counters.requests.imds, 1);
    assert.equal(counters.tokensIssued.imds, 1);
    assert.equal(counters.requests.entra, 0);
  });

  it("adds, lists and clears faults", async () => {
    const fault = await client.addFault({ endpoint: "imds", status: 500, count: 2 });
    assert.equal(fault.applied, 0);
    assert.equal((await imds()).status, 500);
    const [listed] = await client.faults();
    assert.equal(listed.id, fault.id);
    assert.equal(listed.applied, 1);
    await client.clearFaults();
    assert.equal((await imds()).status, 200);
  });

  it("reports a refused fault as an error", async () => {
    await assert.rejects(client.addFault({ endpoint: "imds", status: 500, drop: true }), /400/);
  });

  it("changes the config and resets it", async () => {
    const changed = await client.updateConfig({ tokenLifetimeSeconds: 120 });
    assert.equal(changed.tokenLifetimeSeconds, 120);
    assert.equal(jsonOf(await imds()).expires_in, "119");

    await client.reset();
    assert.deepEqual(await client.config(), DEFAULT_CONFIG);
    assert.deepEqual(await client.journal(), []);
  });

  it("turns refresh_in on and off again", async () => {
    assert.equal((await client.updateConfig({ refreshInSeconds: 60 })).refreshInSeconds, 60);
    assert.equal((await client.updateConfig({ refreshInSeconds: null })).refreshInSeconds, null);
  });

  it("mints federated and access tokens", async () => {
    const federated = await client.federatedToken({ clientId: SIM_WORKLOAD_APP.clientId, tenantId: SIM_TENANT_ID, lifetimeSeconds: 300 });
    assert.equal(claimsOf(federated.token).exp, federated.expiresOn);
    const access = await client.accessToken({ oid: "someone" });
    assert.equal(claimsOf(access.token).oid, "someone");
  });

  const badRequests: [string, string, string][] = [
    ["an unknown config key", "config", JSON.stringify({ tokenLifetime: 5 })],
    ["a config value of the wrong type", "config", JSON.stringify({ streamChunks: "many" })],
    ["a fault for an unknown endpoint", "faults", JSON.stringify({ endpoint: "nowhere", status: 500 })],
    ["a body that is not JSON", "faults", "{"],
    ["a federated token request without clientId", "federated-token", JSON.stringify({ tenantId: SIM_TENANT_ID })],
  ];
  for (const [what, operation, body] of badRequests) {
    it(`answers 400 to ${what}`, async () => {
      const answer = await call(`${info.controlUrl}/${operation}`, {
        method: "POST", body, headers: { "content-type": "application/json" },
      });
      assert.equal(answer.status, 400);
      assert.equal(typeof jsonOf(answer).error, "string");
    });
  }

  it("answers 404 to an unknown control operation", async () => {
    assert.equal((await call(`${info.controlUrl}/teleport`, { method: "POST" })).status, 404);
  });
});
