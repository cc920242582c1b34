import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { checkServerIdentity, connect } from "node:tls";

import {
  COGNITIVE_SERVICES_RESOURCE,
  JWT_BEARER_ASSERTION_TYPE,
  SIM_SECRET_APP,
  SIM_TENANT_ID,
  SIM_WORKLOAD_APP,
  startSimulator,
  type Simulator,
} from "../support/simulator/index.ts";
import { call, claimsOf, forge, form, isRecord, jsonOf, type Answer } from "./helpers.ts";


const SCOPE = `${COGNITIVE_SERVICES_RESOURCE}/.default`;

let simulator: Simulator;

before(async () => {
  simulator = await startSimulator({ certificateHosts: ["sim-host.test", "10.9.8.7"] });
});

after(async () => {
  await simulator.stop();
});

beforeEach(() => {
  simulator.control.reset();
});


function tokenRequest(fields: Record<string, string>, tenant: string = SIM_TENANT_ID): Promise<Answer> {
  return call(`${simulator.httpsUrl}/${tenant}/oauth2/v2.0/token`, { ...form(fields), caPath: simulator.caPath });
}


function secretGrant(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: "client_credentials",
    client_id: SIM_SECRET_APP.clientId,
    client_secret: SIM_SECRET_APP.clientSecret ?? "",
    scope: SCOPE,
    ...overrides,
  };
}


function assertionGrant(assertion: string): Record<string, string> {
  return {
    grant_type: "client_credentials",
    client_id: SIM_WORKLOAD_APP.clientId,
    client_assertion: assertion,
    client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
    scope: SCOPE,
  };
}


function assertEntraError(answer: Answer, status: number, error: string, code: number): void {
  assert.equal(answer.status, status, answer.body);
  const body = jsonOf(answer);
  assert.equal(body.error, error);
  assert.deepEqual(body.error_codes, [code]);
  assert.match(String(body.error_description), new RegExp(`^AADSTS${code}: `));
  for (const field of ["timestamp", "trace_id", "correlation_id"]) {
    assert.equal(typeof body[field], "string", field);
  }
}


/** A TLS handshake to 127.0.0.1 that checks the certificate against `servername`. */
function handshake(port: number, servername: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: readFileSync(simulator.caPath),
      servername: isIP(servername) === 0 ? servername : undefined,
      checkServerIdentity: (_host, certificate) => checkServerIdentity(servername, certificate),
    });
    socket.once("secureConnect", () => {
      socket.end();
      resolve();
    });
    socket.once("error", reject);
  });
}


function workloadAssertion(overrides: { lifetimeSeconds?: number; subject?: string; audience?: string } = {}): string {
  return simulator.control.federatedToken({
    clientId: SIM_WORKLOAD_APP.clientId,
    tenantId: SIM_TENANT_ID,
    ...overrides,
  }).token;
}


describe("Entra OpenID configuration", () => {
  it("names the token endpoint on the host and port it was asked at, for the tenant", async () => {
    const answer = await call(`${simulator.httpsUrl}/${SIM_TENANT_ID}/v2.0/.well-known/openid-configuration`, {
      caPath: simulator.caPath,
    });
    assert.equal(answer.status, 200);
    const document = jsonOf(answer);
    const tenantUrl = `${simulator.httpsUrl}/${SIM_TENANT_ID}`;
    assert.equal(document.token_endpoint, `${tenantUrl}/oauth2/v2.0/token`);
    assert.equal(document.issuer, `${tenantUrl}/v2.0`);
    assert.equal(document.authorization_endpoint, `${tenantUrl}/oauth2/v2.0/authorize`);
    assert.equal(document.jwks_uri, `${tenantUrl}/discovery/v2.0/keys`);
  });

  it("refuses a tenant it does not know", async () => {
    const answer = await call(`${simulator.httpsUrl}/not-a-tenant/v2.0/.well-known/openid-configuration`, {
      caPath: simulator.caPath,
    });
    assertEntraError(answer, 400, "invalid_request", 90002);
  });

  it("is not served over plain HTTP", async () => {
    const answer = await call(`${simulator.httpUrl}/${SIM_TENANT_ID}/v2.0/.well-known/openid-configuration`);
    assert.equal(answer.status, 404);
  });
});


describe("Entra token endpoint", () => {
  it("serves HTTPS with a certificate the test CA signed, for localhost and 127.0.0.1", async () => {
    const port = new URL(simulator.httpsUrl).port;
    for (const host of ["localhost", "127.0.0.1"]) {
      const answer = await call(`https://${host}:${port}/${SIM_TENANT_ID}/discovery/v2.0/keys`, { caPath: simulator.caPath });
      assert.equal(answer.status, 200);
    }
    await assert.rejects(call(`${simulator.httpsUrl}/${SIM_TENANT_ID}/discovery/v2.0/keys`), /self-signed|unable to verify|certificate/i);
  });

  it("adds the names it was asked for to the certificate, and no others", async () => {
    const port = Number(new URL(simulator.httpsUrl).port);
    for (const servername of ["sim-host.test", "10.9.8.7"]) {
      await handshake(port, servername);
    }
    await assert.rejects(handshake(port, "other-host.test"), /altnames/i);
  });

  it("issues a token for a client secret, with numbers for lifetimes", async () => {
    const answer = await tokenRequest(secretGrant());
    assert.equal(answer.status, 200, answer.body);
    const body = jsonOf(answer);
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "ext_expires_in", "token_type"]);
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.expires_in, 3599);
    assert.equal(body.ext_expires_in, 3599);
    const claims = claimsOf(body.access_token);
    assert.equal(claims.aud, COGNITIVE_SERVICES_RESOURCE);
    assert.equal(claims.iss, `https://sts.windows.net/${SIM_TENANT_ID}/`);
    assert.equal(claims.tid, SIM_TENANT_ID);
    assert.equal(claims.oid, SIM_SECRET_APP.objectId);
    assert.equal(claims.appid, SIM_SECRET_APP.clientId);
    assert.equal(claims.azp, SIM_SECRET_APP.clientId);
    assert.equal(claims.idtyp, "app");
    assert.equal(typeof claims.jti, "string");
    assert.equal(simulator.control.counters().tokensIssued.entra, 1);
  });

  it("gives every token its own jti", async () => {
    const first = claimsOf(jsonOf(await tokenRequest(secretGrant())).access_token);
    const second = claimsOf(jsonOf(await tokenRequest(secretGrant())).access_token);
    assert.notEqual(first.jti, second.jti);
  });

  it("adds refresh_in when configured", async () => {
    simulator.control.updateConfig({ refreshInSeconds: 1800 });
    assert.equal(jsonOf(await tokenRequest(secretGrant())).refresh_in, 1800);
  });

  it("journals the form body it received", async () => {
    await tokenRequest(secretGrant());
    const [entry] = simulator.control.journal({ endpoint: "entra" });
    assert.equal(entry.port, "https");
    assert.equal(entry.method, "POST");
    assert.equal(new URLSearchParams(entry.body).get("client_id"), SIM_SECRET_APP.clientId);
  });

  const refusals: [string, () => Promise<Answer>, number, string, number][] = [
    ["a wrong secret", () => tokenRequest(secretGrant({ client_secret: "wrong" })), 401, "invalid_client", 7000215],
    ["an unknown client", () => tokenRequest(secretGrant({ client_id: "00000000-0000-4000-8000-000000000000" })),
      400, "unauthorized_client", 700016],
    ["an unknown tenant", () => tokenRequest(secretGrant(), "00000000-0000-4000-8000-00000000dead"), 400, "invalid_request", 90002],
    ["a scope without /.default", () => tokenRequest(secretGrant({ scope: COGNITIVE_SERVICES_RESOURCE })), 400, "invalid_scope", 1002012],
    ["a missing grant_type", () => tokenRequest({ client_id: SIM_SECRET_APP.clientId, scope: SCOPE }), 400, "invalid_request", 900144],
    ["another grant type", () => tokenRequest(secretGrant({ grant_type: "password" })), 400, "unsupported_grant_type", 70003],
    ["no credential", () => tokenRequest({ grant_type: "client_credentials", client_id: SIM_SECRET_APP.clientId, scope: SCOPE }),
      401, "invalid_client", 7000218],
  ];
  for (const [what, send, status, error, code] of refusals) {
    it(`refuses ${what} with ${status} ${error}`, async () => {
      assertEntraError(await send(), status, error, code);
      assert.equal(simulator.control.counters().tokensIssued.entra, 0);
    });
  }

  it("is not served on the HTTP port", async () => {
    const answer = await call(`${simulator.httpUrl}/${SIM_TENANT_ID}/oauth2/v2.0/token`, form(secretGrant()));
    assert.equal(answer.status, 404);
    assert.equal(simulator.control.journal({ endpoint: "unmatched" }).length, 1);
  });
});


describe("Entra workload identity federation", () => {
  it("mints a cluster assertion with the app's subject and the exchange audience", () => {
    const claims = claimsOf(workloadAssertion());
    assert.equal(claims.sub, SIM_WORKLOAD_APP.federatedSubjects?.[0]);
    assert.deepEqual(claims.aud, ["api://AzureADTokenExchange"]);
  });

  it("exchanges a valid assertion for an access token", async () => {
    const answer = await tokenRequest(assertionGrant(workloadAssertion()));
    assert.equal(answer.status, 200, answer.body);
    const claims = claimsOf(jsonOf(answer).access_token);
    assert.equal(claims.oid, SIM_WORKLOAD_APP.objectId);
    assert.equal(claims.appid, SIM_WORKLOAD_APP.clientId);
    assert.equal(claims.appidacr, "2");
  });

  const refusals: [string, () => string, number, number][] = [
    ["signed by another key", () => forge(workloadAssertion()), 401, 700027],
    ["that has expired", () => workloadAssertion({ lifetimeSeconds: -30 }), 400, 700024],
    ["for another subject", () => workloadAssertion({ subject: "system:serviceaccount:other:intruder" }), 400, 70021],
    ["for another audience", () => workloadAssertion({ audience: "api://SomethingElse" }), 400, 700212],
    ["that is not a JWT", () => "not-a-jwt", 401, 700027],
  ];
  for (const [what, assertion, status, code] of refusals) {
    it(`refuses an assertion ${what}`, async () => {
      assertEntraError(await tokenRequest(assertionGrant(assertion())), status, "invalid_client", code);
    });
  }

  it("refuses an assertion sent for an app without federated credentials", async () => {
    const grant = { ...assertionGrant(workloadAssertion()), client_id: SIM_SECRET_APP.clientId };
    assertEntraError(await tokenRequest(grant), 400, "invalid_client", 70021);
  });

  it("refuses an assertion with another client_assertion_type", async () => {
    const grant = { ...assertionGrant(workloadAssertion()), client_assertion_type: "urn:example:other" };
    assertEntraError(await tokenRequest(grant), 400, "invalid_request", 90014);
  });
});


describe("Entra signing keys", () => {
  for (const port of ["http", "https"] as const) {
    it(`serves keys that verify issued tokens, on the ${port} port`, async () => {
      const base = port === "http" ? simulator.httpUrl : simulator.httpsUrl;
      const token = String(jsonOf(await tokenRequest(secretGrant())).access_token);
      for (const tenant of [SIM_TENANT_ID, "common"]) {
        const answer = await call(`${base}/${tenant}/discovery/v2.0/keys`, { caPath: simulator.caPath });
        assert.equal(answer.status, 200);
        const keys = jsonOf(answer).keys;
        assert.ok(Array.isArray(keys) && keys.length === 1);
        const jwk: unknown = keys[0];
        assert.ok(isRecord(jwk) && typeof jwk.n === "string" && typeof jwk.e === "string");
        const publicKey = createPublicKey({ key: { kty: "RSA", n: jwk.n, e: jwk.e }, format: "jwk" });
        const [header, payload, signature] = token.split(".");
        assert.ok(verify("sha256", Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, "base64url")));
        const tokenHeader: unknown = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
        assert.ok(isRecord(tokenHeader) && tokenHeader.kid === jwk.kid);
      }
    });
  }

  it("answers 400 AADSTS90002 for an unknown tenant", async () => {
    assertEntraError(await call(`${simulator.httpUrl}/not-a-tenant/discovery/v2.0/keys`), 400, "invalid_request", 90002);
  });
});
