// Kong's four documented ways to sign Azure OpenAI requests with Entra instead
// of a key, plus AKS workload identity: each config block as Kong documents
// it, with only the plugin's name changed.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  COGNITIVE_SERVICES_RESOURCE,
  SIM_SECRET_APP,
  SIM_SYSTEM_IDENTITY,
  SIM_TENANT_ID,
  SIM_USER_IDENTITY_1,
  SIM_WORKLOAD_APP,
  type JournalEntry,
} from "../support/simulator/index.ts";
import { waitFor } from "../support/wait.ts";
import { CHAT, pluginConfig, simulatedAzure } from "./support/config.ts";
import { useStack, type Stack } from "./support/stack.ts";

function only(entries: JournalEntry[], what: string): JournalEntry {
  assert.equal(entries.length, 1, `expected exactly one ${what} request, got ${entries.length}`);
  return entries[0]!;
}

function form(entry: JournalEntry): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(entry.body));
}

/** Sends a chat request and returns what Azure OpenAI saw of its credential. */
async function chatThroughGateway(stack: Stack): Promise<JournalEntry> {
  stack.sim.control.clearJournal();
  const response = await stack.post("/openai", CHAT);
  assert.equal(response.status, 200, await response.clone().text());
  return only(stack.sim.control.journal({ endpoint: "openai" }), "Azure OpenAI");
}

describe("the host's system-assigned managed identity", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
    env: simulatedAzure(stack),
  }));

  it("asks IMDS for a Cognitive Services token as documented and signs the request with it", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 200, await response.text());

    const imds = only(stack.sim.control.journal({ endpoint: "imds" }), "IMDS");
    assert.equal(imds.method, "GET");
    assert.equal(imds.headers.metadata, "true");
    assert.deepEqual(imds.query, { "api-version": "2018-02-01", resource: COGNITIVE_SERVICES_RESOURCE });

    const openai = only(stack.sim.control.journal({ endpoint: "openai" }), "Azure OpenAI");
    assert.equal(openai.auth?.kind, "bearer");
    assert.equal(openai.auth?.accepted, true);
    assert.equal(openai.auth?.oid, SIM_SYSTEM_IDENTITY.objectId);
  });

  it("reuses the token for the next request", async () => {
    const openai = await chatThroughGateway(stack);
    assert.equal(openai.auth?.accepted, true);
    assert.equal(stack.sim.control.journal({ endpoint: "imds" }).length, 0);
  });
});


describe("a user-assigned identity, by client id", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, {
      auth: { azure_use_managed_identity: true, azure_client_id: SIM_USER_IDENTITY_1.clientId },
    }),
    env: simulatedAzure(stack),
  }));

  it("asks IMDS for that identity and Azure sees its object id", async () => {
    const openai = await chatThroughGateway(stack);
    assert.equal(openai.auth?.accepted, true);
    assert.equal(openai.auth?.oid, SIM_USER_IDENTITY_1.objectId);
    const imds = only(stack.sim.control.journal({ endpoint: "imds" }), "IMDS");
    assert.equal(imds.query.client_id, SIM_USER_IDENTITY_1.clientId);
  });
});

describe("an Entra app registration with its secret in the config", () => {
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
  }));

  it("uses the client credentials grant of the tenant's v2 token endpoint", async () => {
    const openai = await chatThroughGateway(stack);
    assert.equal(openai.auth?.accepted, true);
    assert.equal(openai.auth?.appid, SIM_SECRET_APP.clientId);

    const entra = only(stack.sim.control.journal({ endpoint: "entra" }), "Entra");
    assert.equal(entra.method, "POST");
    assert.equal(entra.path, `/${SIM_TENANT_ID}/oauth2/v2.0/token`);
    assert.deepEqual(form(entra), {
      client_id: SIM_SECRET_APP.clientId,
      client_secret: SIM_SECRET_APP.clientSecret,
      grant_type: "client_credentials",
      scope: `${COGNITIVE_SERVICES_RESOURCE}/.default`,
    });
    assert.equal(stack.sim.control.journal({ endpoint: "imds" }).length, 0);
  });
});

describe("an Entra app registration with AZURE_CLIENT_SECRET from the environment", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, {
      auth: {
        azure_use_managed_identity: true,
        azure_client_id: SIM_SECRET_APP.clientId,
        azure_tenant_id: SIM_TENANT_ID,
      },
    }),
    env: { ...simulatedAzure(stack), AZURE_CLIENT_SECRET: SIM_SECRET_APP.clientSecret! },
  }));

  it("takes the secret the master process read at start", async () => {
    const openai = await chatThroughGateway(stack);
    assert.equal(openai.auth?.appid, SIM_SECRET_APP.clientId);
    const entra = only(stack.sim.control.journal({ endpoint: "entra" }), "Entra");
    assert.equal(form(entra).client_secret, SIM_SECRET_APP.clientSecret);
  });
});

describe("AKS workload identity", () => {
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-wi-"));
  chmodSync(dir, 0o755);
  const tokenFile = join(dir, "azure-identity-token");
  after(() => rmSync(dir, { recursive: true, force: true }));

  const writeAssertion = (stack: Stack): string => {
    const assertion = stack.sim.control.federatedToken({ clientId: SIM_WORKLOAD_APP.clientId, tenantId: SIM_TENANT_ID }).token;
    writeFileSync(tokenFile, `${assertion}\n`, { mode: 0o644 });
    return assertion;
  };

  const stack = useStack((stack) => {
    writeAssertion(stack);
    return {
      plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
      env: {
        ...simulatedAzure(stack),
        AZURE_CLIENT_ID: SIM_WORKLOAD_APP.clientId,
        AZURE_TENANT_ID: SIM_TENANT_ID,
        AZURE_FEDERATED_TOKEN_FILE: stack.target.pathFor(tokenFile),
      },
      files: { [tokenFile]: stack.target.pathFor(tokenFile) },
    };
  });

  it("exchanges the service account token from the file for an Entra token", async () => {
    const openai = await chatThroughGateway(stack);
    assert.equal(openai.auth?.accepted, true);
    assert.equal(openai.auth?.appid, SIM_WORKLOAD_APP.clientId);

    const entra = only(stack.sim.control.journal({ endpoint: "entra" }), "Entra");
    const fields = form(entra);
    assert.equal(fields.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    assert.equal(fields.client_id, SIM_WORKLOAD_APP.clientId);
    assert.equal(fields.client_secret, undefined);
  });

  it("sends the rotated file's content when it next needs a token", { skip: skipOnKong(stack) }, async () => {
    const rotated = writeAssertion(stack);
    // Azure refusing the cached token makes the plugin drop it and fetch anew.
    stack.sim.control.addFault({ endpoint: "openai", status: 401, count: 1 });
    stack.sim.control.clearJournal();
    const refused = await stack.post("/openai", CHAT);
    assert.equal(refused.status, 401);

    // The replacement is fetched in the background as soon as the token is dropped.
    await waitFor(() => stack.sim.control.journal({ endpoint: "entra" }).length > 0, "the replacement token request", 5_000);
    const entra = stack.sim.control.journal({ endpoint: "entra" })[0]!;
    assert.equal(form(entra).client_assertion, rotated);
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 200);
  });
});

function skipOnKong(stack: Stack): string | false {
  return stack.target.name === "kong" ? "the rotated file would have to be copied into the container again" : false;
}
