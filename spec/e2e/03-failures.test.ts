// Requests that cannot be signed: the client gets a 500 whose JSON message
// names the source and what went wrong; the log has the detail; neither has a
// token, a secret or an assertion, even at debug level.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SIM_SECRET_APP, SIM_TENANT_ID, SIM_WORKLOAD_APP } from "../support/simulator/index.ts";
import { waitFor } from "../support/wait.ts";
import { CHAT, pluginConfig, simulatedAzure } from "./support/config.ts";
import { useStack, type Stack } from "./support/stack.ts";

const UNKNOWN_CLIENT_ID = "0badc0de-0000-4000-8000-000000000000";

async function errorOf(response: Response): Promise<string> {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const body = (await response.json()) as { error?: { message?: unknown } };
  assert.equal(typeof body.error?.message, "string", "the answer is not {\"error\":{\"message\":...}}");
  return body.error!.message as string;
}

describe("IMDS answers 'Identity not found' for a user-assigned identity", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true, azure_client_id: UNKNOWN_CLIENT_ID } }),
    env: simulatedAzure(stack),
  }));

  it("answers 500 naming the managed identity and the missing identity", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 500);
    const message = await errorOf(response);
    assert.match(message, /managed identity \(IMDS\)/);
    assert.match(message, new RegExp(`user-assigned identity ${UNKNOWN_CLIENT_ID} is not assigned to this host`));
  });

  it("logs IMDS's answer, and Azure OpenAI is never called", async () => {
    assert.match(await stack.gateway.errorLog(), /IMDS at .* answered 400 .*Identity not found/);
    assert.equal(stack.sim.control.journal({ endpoint: "openai" }).length, 0);
  });
});

describe("Entra refuses the client secret", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, {
      auth: {
        azure_use_managed_identity: true,
        azure_client_id: SIM_SECRET_APP.clientId,
        azure_client_secret: "not-the-secret",
        azure_tenant_id: SIM_TENANT_ID,
      },
    }),
    env: simulatedAzure(stack),
  }));

  it("answers 500 with Entra's error code and logs its AADSTS code", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 500);
    assert.match(await errorOf(response), /Entra ID refused the client credentials \(invalid_client\)/);
    const log = await stack.gateway.errorLog();
    assert.match(log, /invalid_client AADSTS7000215/);
    assert.doesNotMatch(log, /not-the-secret/);
  });
});

describe("no managed identity endpoint on this host", () => {
  // Nothing listens on the discard port: connecting is refused, as off Azure.
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
    env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9" },
  }));

  it("answers 500 saying the managed identity is unavailable", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 500);
    assert.match(await errorOf(response), /managed identity \(IMDS\) is unavailable/);
  });
});

describe("secrets and tokens in answers and logs", () => {
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-secrets-"));
  chmodSync(dir, 0o755);
  const tokenFile = join(dir, "azure-identity-token");
  after(() => rmSync(dir, { recursive: true, force: true }));

  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, {
      auth: {
        azure_use_managed_identity: true,
        azure_client_id: SIM_SECRET_APP.clientId,
        azure_client_secret: SIM_SECRET_APP.clientSecret,
        azure_tenant_id: SIM_TENANT_ID,
      },
    }),
    env: simulatedAzure(stack),
    logLevel: "debug",
  }));

  const issuedTokens = (stack: Stack): string[] =>
    stack.sim.control
      .journal({ endpoint: "openai" })
      .map((entry) => (entry.headers.authorization ?? "").replace(/^Bearer /, ""))
      .filter((token) => token !== "");

  it("keeps every token, the client secret and the federated assertion out of the debug log and the answers", async () => {
    const answers: string[] = [];
    const send = async (): Promise<void> => {
      const response = await stack.post("/openai", CHAT);
      answers.push(`${JSON.stringify([...response.headers])}${await response.text()}`);
    };

    await send();
    await send();
    const logs = [await stack.gateway.errorLog()];

    const assertion = stack.sim.control.federatedToken({ clientId: SIM_WORKLOAD_APP.clientId, tenantId: SIM_TENANT_ID }).token;
    writeFileSync(tokenFile, assertion, { mode: 0o644 });
    await stack.restart({
      plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
      env: {
        ...simulatedAzure(stack),
        AZURE_CLIENT_ID: SIM_WORKLOAD_APP.clientId,
        AZURE_TENANT_ID: SIM_TENANT_ID,
        AZURE_FEDERATED_TOKEN_FILE: stack.target.pathFor(tokenFile),
      },
      files: { [tokenFile]: stack.target.pathFor(tokenFile) },
      logLevel: "debug",
    });
    await send();
    // A refused token and a failing fetch go through the error paths too: the refused
    // token's replacement, fetched in the background, is refused by Entra.
    const entraBefore = stack.sim.control.journal({ endpoint: "entra" }).length;
    stack.sim.control.addFault({ endpoint: "entra", status: 400, count: 1 });
    stack.sim.control.addFault({ endpoint: "openai", status: 401, count: 1 });
    await send();
    await waitFor(
      async () => /failed to renew the token of/.test(await stack.gateway.errorLog()),
      "the failed renewal's log line",
      5_000,
    );
    assert.equal(stack.sim.control.journal({ endpoint: "entra" }).slice(entraBefore)[0]?.status, 400);
    await send();

    logs.push(await stack.gateway.errorLog());
    const log = logs.join("\n");
    assert.match(log, /\[debug\].*signing the request with the token of/, "debug logging was not on");
    const secrets = [...issuedTokens(stack), SIM_SECRET_APP.clientSecret!, assertion];
    assert.ok(secrets.length >= 5, "too few tokens were issued for the test to mean anything");
    for (const secret of secrets) {
      assert.ok(!log.includes(secret), "the error log holds a secret or a token");
      for (const answer of answers) {
        assert.ok(!answer.includes(secret), "an answer holds a secret or a token");
      }
    }
  });
});
