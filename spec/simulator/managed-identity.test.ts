import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";

import {
  COGNITIVE_SERVICES_RESOURCE,
  SIM_IDENTITY_HEADER,
  SIM_ML_SECRET,
  SIM_SYSTEM_IDENTITY,
  SIM_TENANT_ID,
  SIM_USER_IDENTITY_1,
  SIM_USER_IDENTITY_2,
  startSimulator,
  type ManagedIdentity,
  type Simulator,
} from "../support/simulator/index.ts";
import { call, claimsOf, jsonOf } from "./helpers.ts";


const RESOURCE = encodeURIComponent(COGNITIVE_SERVICES_RESOURCE);
const IMDS_PATH = "/metadata/identity/oauth2/token";
const METADATA = { Metadata: "true" };

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


function imds(query: string, headers: Record<string, string> = METADATA): ReturnType<typeof call> {
  return call(`${simulator.httpUrl}${IMDS_PATH}?${query}`, { headers });
}


function assertTokenFor(token: unknown, identity: ManagedIdentity): void {
  const claims = claimsOf(token);
  assert.equal(claims.aud, COGNITIVE_SERVICES_RESOURCE);
  assert.equal(claims.iss, `https://sts.windows.net/${SIM_TENANT_ID}/`);
  assert.equal(claims.tid, SIM_TENANT_ID);
  assert.equal(claims.oid, identity.objectId);
  assert.equal(claims.appid, identity.clientId);
  assert.equal(claims.xms_mirid, identity.resourceId);
}


describe("IMDS", () => {
  it("issues a system-assigned token with every value a string", async () => {
    const answer = await imds(`api-version=2018-02-01&resource=${RESOURCE}`);

    assert.equal(answer.status, 200);
    const body = jsonOf(answer);
    assert.deepEqual(Object.keys(body).sort(), [
      "access_token", "client_id", "expires_in", "expires_on", "not_before",
      "refresh_token", "resource", "token_type",
    ]);
    for (const value of Object.values(body)) {
      assert.equal(typeof value, "string");
    }
    assert.equal(body.expires_in, "3599");
    assert.equal(body.refresh_token, "");
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.resource, COGNITIVE_SERVICES_RESOURCE);
    assert.equal(body.client_id, SIM_SYSTEM_IDENTITY.clientId);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(Number(body.expires_on) - (now + 3599)) <= 2, `expires_on ${body.expires_on}`);
    assertTokenFor(body.access_token, SIM_SYSTEM_IDENTITY);
    assert.equal(claimsOf(body.access_token).exp, Number(body.expires_on));
  });

  it("answers on the path with a trailing slash too", async () => {
    const answer = await call(
      `${simulator.httpUrl}${IMDS_PATH}/?api-version=2018-02-01&resource=${RESOURCE}`,
      { headers: METADATA },
    );
    assert.equal(answer.status, 200);
  });

  const selectors: [string, string, ManagedIdentity][] = [
    ["client_id", SIM_USER_IDENTITY_1.clientId, SIM_USER_IDENTITY_1],
    ["object_id", SIM_USER_IDENTITY_2.objectId, SIM_USER_IDENTITY_2],
    ["msi_res_id", SIM_USER_IDENTITY_2.resourceId.toLowerCase(), SIM_USER_IDENTITY_2],
  ];
  for (const [param, value, identity] of selectors) {
    it(`chooses a user-assigned identity by ${param}`, async () => {
      const answer = await imds(`api-version=2018-02-01&resource=${RESOURCE}&${param}=${encodeURIComponent(value)}`);
      assert.equal(answer.status, 200);
      const body = jsonOf(answer);
      assert.equal(body.client_id, identity.clientId);
      assertTokenFor(body.access_token, identity);
    });
  }

  const refusals: [string, string, Record<string, string>, string, string][] = [
    ["without the Metadata header", `api-version=2018-02-01&resource=${RESOURCE}`, {}, "bad_request_102",
      "Required metadata header not specified"],
    ["without api-version", `resource=${RESOURCE}`, METADATA, "invalid_request",
      "Required query variable 'api-version' is missing"],
    ["without resource", "api-version=2018-02-01", METADATA, "invalid_request",
      "Required audience parameter not specified"],
    ["for an identity the VM does not have", `api-version=2018-02-01&resource=${RESOURCE}&client_id=00000000-0000-4000-8000-000000000000`,
      METADATA, "invalid_request", "Identity not found"],
    ["with two identity selectors",
      `api-version=2018-02-01&resource=${RESOURCE}&client_id=${SIM_USER_IDENTITY_1.clientId}&object_id=${SIM_USER_IDENTITY_1.objectId}`,
      METADATA, "invalid_request", "Only one of client_id, object_id and msi_res_id may be given"],
  ];
  for (const [what, query, headers, error, description] of refusals) {
    it(`answers 400 ${error} ${what}`, async () => {
      const answer = await imds(query, headers);
      assert.equal(answer.status, 400);
      assert.deepEqual(jsonOf(answer), { error, error_description: description });
    });
  }

  it("refuses a system-assigned token when the VM has no system identity", async () => {
    simulator.control.updateConfig({ identities: [SIM_USER_IDENTITY_1] });
    const answer = await imds(`api-version=2018-02-01&resource=${RESOURCE}`);
    assert.equal(answer.status, 400);
    assert.equal(jsonOf(answer).error_description, "Identity not found");
  });

  it("uses the configured token lifetime", async () => {
    simulator.control.updateConfig({ tokenLifetimeSeconds: 600 });
    const body = jsonOf(await imds(`api-version=2018-02-01&resource=${RESOURCE}`));
    assert.equal(body.expires_in, "599");
  });

  it("journals the request and counts the token", async () => {
    await imds(`api-version=2018-02-01&resource=${RESOURCE}`);
    await imds(`api-version=2018-02-01&resource=${RESOURCE}`, {});

    const entries = simulator.control.journal({ endpoint: "imds" });
    assert.equal(entries.length, 2);
    assert.equal(entries[0].method, "GET");
    assert.equal(entries[0].path, IMDS_PATH);
    assert.deepEqual(entries[0].query, { "api-version": "2018-02-01", resource: COGNITIVE_SERVICES_RESOURCE });
    assert.equal(entries[0].headers.metadata, "true");
    assert.deepEqual([entries[0].status, entries[1].status], [200, 400]);
    assert.ok(entries[0].seq < entries[1].seq);
    const counters = simulator.control.counters();
    assert.equal(counters.requests.imds, 2);
    assert.equal(counters.tokensIssued.imds, 1);
  });
});


describe("App Service identity endpoint", () => {
  function appService(query: string, headers: Record<string, string> = { "X-IDENTITY-HEADER": SIM_IDENTITY_HEADER }) {
    return call(`${simulator.httpUrl}/msi/token?${query}`, { headers });
  }

  it("issues a system-assigned token with expires_on as an epoch string", async () => {
    const answer = await appService(`api-version=2019-08-01&resource=${RESOURCE}`);
    assert.equal(answer.status, 200);
    const body = jsonOf(answer);
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "client_id", "expires_on", "resource", "token_type"]);
    assert.match(String(body.expires_on), /^\d{10}$/);
    assert.equal(body.token_type, "Bearer");
    assertTokenFor(body.access_token, SIM_SYSTEM_IDENTITY);
  });

  const selectors: [string, string, ManagedIdentity][] = [
    ["client_id", SIM_USER_IDENTITY_1.clientId, SIM_USER_IDENTITY_1],
    ["mi_res_id", SIM_USER_IDENTITY_1.resourceId, SIM_USER_IDENTITY_1],
    ["object_id", SIM_USER_IDENTITY_2.objectId, SIM_USER_IDENTITY_2],
    ["principal_id", SIM_USER_IDENTITY_2.objectId, SIM_USER_IDENTITY_2],
  ];
  for (const [param, value, identity] of selectors) {
    it(`chooses a user-assigned identity by ${param}`, async () => {
      const answer = await appService(`api-version=2019-08-01&resource=${RESOURCE}&${param}=${encodeURIComponent(value)}`);
      assert.equal(answer.status, 200);
      assertTokenFor(jsonOf(answer).access_token, identity);
    });
  }

  const refusals: [string, string, Record<string, string>, number][] = [
    ["without X-IDENTITY-HEADER", `api-version=2019-08-01&resource=${RESOURCE}`, {}, 401],
    ["with a wrong X-IDENTITY-HEADER", `api-version=2019-08-01&resource=${RESOURCE}`, { "X-IDENTITY-HEADER": "wrong" }, 401],
    ["with another api-version", `api-version=2017-09-01&resource=${RESOURCE}`, { "X-IDENTITY-HEADER": SIM_IDENTITY_HEADER }, 400],
    ["without resource", "api-version=2019-08-01", { "X-IDENTITY-HEADER": SIM_IDENTITY_HEADER }, 400],
    ["for an unknown identity", `api-version=2019-08-01&resource=${RESOURCE}&client_id=nobody`, { "X-IDENTITY-HEADER": SIM_IDENTITY_HEADER }, 404],
  ];
  for (const [what, query, headers, status] of refusals) {
    it(`answers ${status} ${what}`, async () => {
      const answer = await appService(query, headers);
      assert.equal(answer.status, status);
      const body = jsonOf(answer);
      assert.equal(body.statusCode, status);
      assert.equal(typeof body.message, "string");
    });
  }
});


describe("Azure Arc identity endpoint", () => {
  const url = () => `${simulator.httpUrl}/arc/metadata/identity/oauth2/token?api-version=2020-06-01&resource=${RESOURCE}`;

  it("challenges with a key file, then accepts its contents as Basic credentials", async () => {
    const challenge = await call(url(), { headers: METADATA });
    assert.equal(challenge.status, 401);
    const realm = /^Basic realm=(.+)$/.exec(challenge.headers["www-authenticate"] ?? "");
    assert.ok(realm !== null, "expected a Basic realm challenge");
    const keyPath = realm[1];
    assert.ok(keyPath.startsWith(simulator.tempDir) && keyPath.endsWith(".key"), keyPath);

    const answer = await call(url(), { headers: { ...METADATA, Authorization: `Basic ${readFileSync(keyPath, "utf8")}` } });
    assert.equal(answer.status, 200);
    const body = jsonOf(answer);
    assert.equal(typeof body.expires_on, "string");
    assertTokenFor(body.access_token, SIM_SYSTEM_IDENTITY);
    assert.equal(simulator.control.counters().tokensIssued.arc, 1);
  });

  it("refuses credentials that match no key it wrote", async () => {
    const answer = await call(url(), { headers: { ...METADATA, Authorization: "Basic not-the-key" } });
    assert.equal(answer.status, 401);
    assert.equal(answer.headers["www-authenticate"], undefined);
  });

  it("refuses user-assigned identities", async () => {
    const answer = await call(`${url()}&client_id=${SIM_USER_IDENTITY_1.clientId}`, { headers: METADATA });
    assert.equal(answer.status, 400);
  });

  it("writes its key files where and with the mode the config says", async () => {
    const directory = mkdtempSync(join(tmpdir(), "ai-proxy-azure-arc-test-"));
    try {
      simulator.control.updateConfig({ arcKeyDirectory: directory, arcKeyFileMode: 0o644 });
      const challenge = await call(url(), { headers: METADATA });
      const keyPath = /^Basic realm=(.+)$/.exec(challenge.headers["www-authenticate"] ?? "")?.[1] ?? "";
      assert.equal(dirname(keyPath), directory);
      assert.equal(statSync(keyPath).mode & 0o777, 0o644);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("keeps its key files to its own user by default", async () => {
    const challenge = await call(url(), { headers: METADATA });
    const keyPath = /^Basic realm=(.+)$/.exec(challenge.headers["www-authenticate"] ?? "")?.[1] ?? "";
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
  });
});


describe("Cloud Shell token endpoint", () => {
  const url = () => `${simulator.httpUrl}/oauth2/token`;
  const post = (body: string, headers: Record<string, string> = METADATA) =>
    call(url(), { method: "POST", body, headers: { ...headers, "content-type": "application/x-www-form-urlencoded" } });

  it("issues a token for the resource in the form body", async () => {
    const answer = await post(`resource=${RESOURCE}`);
    assert.equal(answer.status, 200);
    const body = jsonOf(answer);
    assert.equal(body.resource, COGNITIVE_SERVICES_RESOURCE);
    assertTokenFor(body.access_token, SIM_SYSTEM_IDENTITY);
  });

  it("refuses GET, a missing Metadata header and user-assigned ids", async () => {
    assert.equal((await call(url(), { headers: METADATA })).status, 405);
    assert.equal((await post(`resource=${RESOURCE}`, {})).status, 400);
    assert.equal((await post(`resource=${RESOURCE}&client_id=${SIM_USER_IDENTITY_1.clientId}`)).status, 400);
  });
});


describe("Machine Learning identity endpoint", () => {
  const url = (extra = "") => `${simulator.httpUrl}/ml/msi/token?api-version=2017-09-01&resource=${RESOURCE}${extra}`;

  it("answers expires_on as a MM/DD/YYYY HH:MM:SS +00:00 date", async () => {
    const answer = await call(url(), { headers: { secret: SIM_ML_SECRET } });
    assert.equal(answer.status, 200);
    const body = jsonOf(answer);
    const parts = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2}) \+00:00$/.exec(String(body.expires_on));
    assert.ok(parts !== null, `expires_on ${body.expires_on}`);
    const [, month, day, year, hours, minutes, seconds] = parts.map(Number);
    const epoch = Date.UTC(year, month - 1, day, hours, minutes, seconds) / 1000;
    assert.equal(epoch, claimsOf(body.access_token).exp);
  });

  it("chooses a user-assigned identity by clientid", async () => {
    const answer = await call(url(`&clientid=${SIM_USER_IDENTITY_2.clientId}`), { headers: { secret: SIM_ML_SECRET } });
    assertTokenFor(jsonOf(answer).access_token, SIM_USER_IDENTITY_2);
  });

  it("refuses a wrong secret", async () => {
    const answer = await call(url(), { headers: { secret: "wrong" } });
    assert.equal(answer.status, 401);
    assert.equal(jsonOf(answer).statusCode, 401);
  });
});
