// Every place Kong may run on Azure, and every cloud: for each managed
// identity source (App Service / Functions / Container Apps, Azure Machine
// Learning, Cloud Shell, Azure Arc, IMDS) the request the plugin sends, and
// that Azure OpenAI accepts the token it gets; user-assigned identities by
// object and resource id; the US Government and China clouds, and an explicit
// scope; the v1 API.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  COGNITIVE_SERVICES_RESOURCE,
  SIM_IDENTITY_HEADER,
  SIM_ML_SECRET,
  SIM_SECRET_APP,
  SIM_SYSTEM_IDENTITY,
  SIM_TENANT_ID,
  SIM_USER_IDENTITY_1,
  SIM_USER_IDENTITY_2,
  type EndpointName,
  type JournalEntry,
} from "../support/simulator/index.ts";
import { CHAT, pluginConfig, simulatedAzure } from "./support/config.ts";
import { useStack, type Stack } from "./support/stack.ts";
import { currentTarget } from "./support/targets.ts";


const MANAGED_IDENTITY = { azure_use_managed_identity: true };


function only(entries: JournalEntry[], what: string): JournalEntry {
  assert.equal(entries.length, 1, `expected exactly one ${what} request, got ${entries.length}`);
  return entries[0]!;
}


/** Sends a chat request; returns what Azure OpenAI saw of it. */
async function chatThroughGateway(stack: Stack): Promise<JournalEntry> {
  const response = await stack.post("/openai", CHAT);
  assert.equal(response.status, 200, await response.clone().text());
  const requests = stack.sim.control.journal({ endpoint: "openai" });
  return requests[requests.length - 1]!;
}


/** Signs one request, checks Azure OpenAI accepted the token for `oid`, and returns the token request. */
async function signedFor(stack: Stack, endpoint: EndpointName, oid: string): Promise<JournalEntry> {
  stack.sim.control.clearJournal();
  const openai = await chatThroughGateway(stack);
  assert.equal(openai.auth?.kind, "bearer");
  assert.equal(openai.auth?.accepted, true, openai.auth?.reason);
  assert.equal(openai.auth?.oid, oid);
  return only(stack.sim.control.journal({ endpoint }), endpoint);
}


async function announcements(stack: Stack): Promise<string[]> {
  const log = await stack.gateway.errorLog();
  return log.split("\n").filter((line) => line.includes("signing requests with "));
}


describe("on App Service, Functions or Container Apps (IDENTITY_ENDPOINT and IDENTITY_HEADER)", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: MANAGED_IDENTITY }),
    env: { IDENTITY_ENDPOINT: `${stack.simHttpUrl}/msi/token`, IDENTITY_HEADER: SIM_IDENTITY_HEADER },
  }));

  it("asks the identity endpoint with api-version 2019-08-01 and the identity header", async () => {
    const request = await signedFor(stack, "appservice", SIM_SYSTEM_IDENTITY.objectId);
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/msi/token");
    assert.deepEqual(request.query, { "api-version": "2019-08-01", resource: COGNITIVE_SERVICES_RESOURCE });
    assert.equal(request.headers["x-identity-header"], SIM_IDENTITY_HEADER);
    assert.equal(request.headers.metadata, undefined);
    assert.equal(stack.sim.control.journal({ endpoint: "imds" }).length, 0);
  });

  it("logs once, at info, which source and identity sign, without the identity header", async () => {
    // Concurrent requests, so that every worker (two) selects the source.
    const responses = await Promise.all(Array.from({ length: 20 }, () => stack.post("/openai", CHAT)));
    assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([200]));
    const lines = await announcements(stack);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /\[info\].*signing requests with managed identity \(App Service\) for system-assigned/);
    assert.doesNotMatch(await stack.gateway.errorLog(), new RegExp(SIM_IDENTITY_HEADER));
  });
});


describe("a user-assigned identity on App Service", () => {
  for (const { field, value, param, identity } of [
    { field: "azure_client_id", value: SIM_USER_IDENTITY_1.clientId, param: "client_id", identity: SIM_USER_IDENTITY_1 },
    { field: "azure_object_id", value: SIM_USER_IDENTITY_2.objectId, param: "object_id", identity: SIM_USER_IDENTITY_2 },
    { field: "azure_resource_id", value: SIM_USER_IDENTITY_1.resourceId, param: "mi_res_id", identity: SIM_USER_IDENTITY_1 },
  ]) {
    describe(`named by ${field}`, () => {
      const stack = useStack((stack) => ({
        plugin: pluginConfig(stack, { auth: { ...MANAGED_IDENTITY, [field]: value } }),
        env: { IDENTITY_ENDPOINT: `${stack.simHttpUrl}/msi/token`, IDENTITY_HEADER: SIM_IDENTITY_HEADER },
      }));

      it(`is asked for with ${param}`, async () => {
        const request = await signedFor(stack, "appservice", identity.objectId);
        assert.equal(request.query[param], value);
      });
    });
  }
});


describe("a user-assigned identity through IMDS", () => {
  for (const { field, value, param, identity } of [
    { field: "azure_object_id", value: SIM_USER_IDENTITY_2.objectId, param: "object_id", identity: SIM_USER_IDENTITY_2 },
    { field: "azure_resource_id", value: SIM_USER_IDENTITY_1.resourceId, param: "msi_res_id", identity: SIM_USER_IDENTITY_1 },
  ]) {
    describe(`named by ${field}`, () => {
      const stack = useStack((stack) => ({
        plugin: pluginConfig(stack, { auth: { ...MANAGED_IDENTITY, [field]: value } }),
        env: simulatedAzure(stack),
      }));

      it(`is asked for with ${param}`, async () => {
        const request = await signedFor(stack, "imds", identity.objectId);
        assert.equal(request.query[param], value);
        assert.equal(request.query.client_id, undefined);
      });
    });
  }
});


describe("on Azure Machine Learning (MSI_ENDPOINT and MSI_SECRET)", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { ...MANAGED_IDENTITY, azure_client_id: SIM_USER_IDENTITY_1.clientId } }),
    env: { MSI_ENDPOINT: `${stack.simHttpUrl}/ml/msi/token`, MSI_SECRET: SIM_ML_SECRET },
  }));

  it("asks with api-version 2017-09-01, the secret header and clientid", async () => {
    const request = await signedFor(stack, "ml", SIM_USER_IDENTITY_1.objectId);
    assert.equal(request.method, "GET");
    assert.deepEqual(request.query, {
      "api-version": "2017-09-01",
      resource: COGNITIVE_SERVICES_RESOURCE,
      clientid: SIM_USER_IDENTITY_1.clientId,
    });
    assert.equal(request.headers.secret, SIM_ML_SECRET);
  });

  it("reads the date-string expiry as a time ahead: the next request reuses the token", async () => {
    stack.sim.control.clearJournal();
    await chatThroughGateway(stack);
    assert.equal(stack.sim.control.journal({ endpoint: "ml" }).length, 0);
  });
});


describe("in Cloud Shell (MSI_ENDPOINT alone)", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: MANAGED_IDENTITY }),
    env: { MSI_ENDPOINT: `${stack.simHttpUrl}/oauth2/token` },
  }));

  it("posts the resource as a form with Metadata: true", async () => {
    const request = await signedFor(stack, "cloudshell", SIM_SYSTEM_IDENTITY.objectId);
    assert.equal(request.method, "POST");
    assert.equal(request.headers.metadata, "true");
    assert.deepEqual(Object.fromEntries(new URLSearchParams(request.body)), { resource: COGNITIVE_SERVICES_RESOURCE });
  });
});


describe("in Cloud Shell with a user-assigned identity named", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { ...MANAGED_IDENTITY, azure_client_id: SIM_USER_IDENTITY_1.clientId } }),
    env: { MSI_ENDPOINT: `${stack.simHttpUrl}/oauth2/token` },
  }));

  it("refuses the configuration without asking Cloud Shell", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 500);
    const body = (await response.json()) as { error: { message: string } };
    assert.match(body.error.message, /^ai-proxy-azure is misconfigured: .*Cloud Shell \(MSI_ENDPOINT\) offers no user-assigned/);
    assert.equal(stack.sim.control.journal({ endpoint: "cloudshell" }).length, 0);
  });
});


describe(
  "on an Azure Arc-enabled server (IDENTITY_ENDPOINT and IMDS_ENDPOINT)",
  // The simulator writes the key files on this machine while the gateway runs: a container cannot see them.
  { skip: currentTarget().name === "kong" ? "the simulator's Arc key files are not visible inside a container" : false },
  () => {
    const keyDirectory = mkdtempSync(join(tmpdir(), "ai-proxy-azure-arc-"));
    // The gateway's workers run as another user: they need to read the key files.
    chmodSync(keyDirectory, 0o755);
    const stack = useStack((stack) => {
      stack.sim.control.updateConfig({ arcKeyDirectory: keyDirectory, arcKeyFileMode: 0o644 });
      return {
        plugin: pluginConfig(stack, { auth: MANAGED_IDENTITY }),
        env: {
          IDENTITY_ENDPOINT: `${stack.simHttpUrl}/arc/metadata/identity/oauth2/token`,
          IMDS_ENDPOINT: stack.simHttpUrl,
          AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR: `${keyDirectory}/`,
        },
      };
    });

    after(() => {
      rmSync(keyDirectory, { recursive: true, force: true });
    });

    it("answers the agent's key file challenge and gets the machine's token", async () => {
      stack.sim.control.clearJournal();
      const openai = await chatThroughGateway(stack);
      assert.equal(openai.auth?.accepted, true, openai.auth?.reason);
      assert.equal(openai.auth?.oid, SIM_SYSTEM_IDENTITY.objectId);

      const [challenged, answered, ...more] = stack.sim.control.journal({ endpoint: "arc" });
      assert.equal(more.length, 0);
      assert.equal(challenged?.status, 401);
      assert.equal(challenged?.headers.authorization, undefined);
      assert.deepEqual(challenged?.query, { "api-version": "2020-06-01", resource: COGNITIVE_SERVICES_RESOURCE });
      assert.equal(challenged?.headers.metadata, "true");
      assert.equal(answered?.status, 200);
      assert.match(answered?.headers.authorization ?? "", /^Basic [0-9a-f]{64}$/);
    });

    it("warns that the key file directory is a test setting", async () => {
      assert.match(await stack.gateway.errorLog(), /\[warn\].*AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR .* a setting for tests only/);
    });
  },
);


describe("on Azure Arc, with a key file outside the agent's directory", () => {
  // No test directory is set: the simulator's key files are not in /var/opt/azcmagent/tokens/.
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: MANAGED_IDENTITY }),
    env: {
      IDENTITY_ENDPOINT: `${stack.simHttpUrl}/arc/metadata/identity/oauth2/token`,
      IMDS_ENDPOINT: stack.simHttpUrl,
    },
  }));

  it("refuses the challenge and never sends the file", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 500);
    const body = (await response.json()) as { error: { message: string } };
    assert.equal(
      body.error.message,
      "failed to authenticate with Azure OpenAI: managed identity (Azure Arc) refused: its key file challenge failed the checks",
    );
    const requests = stack.sim.control.journal({ endpoint: "arc" });
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.headers.authorization, undefined);
  });
});


describe("in each cloud", () => {
  for (const { cloud, resource } of [
    { cloud: "public", resource: "https://cognitiveservices.azure.com" },
    { cloud: "usgovernment", resource: "https://cognitiveservices.azure.us" },
    { cloud: "china", resource: "https://cognitiveservices.azure.cn" },
  ]) {
    describe(`azure_cloud: ${cloud}`, () => {
      const stack = useStack((stack) => {
        stack.sim.control.updateConfig({ audience: resource });
        return {
          plugin: pluginConfig(stack, { auth: MANAGED_IDENTITY, options: { azure_cloud: cloud } }),
          env: simulatedAzure(stack),
        };
      });

      it(`asks the managed identity for ${resource} and Azure accepts the token`, async () => {
        const request = await signedFor(stack, "imds", SIM_SYSTEM_IDENTITY.objectId);
        assert.equal(request.query.resource, resource);
      });
    });

    describe(`azure_cloud: ${cloud} with an app registration`, () => {
      const stack = useStack((stack) => {
        stack.sim.control.updateConfig({ audience: resource });
        return {
          plugin: pluginConfig(stack, {
            auth: {
              ...MANAGED_IDENTITY,
              azure_client_id: SIM_SECRET_APP.clientId,
              azure_client_secret: SIM_SECRET_APP.clientSecret,
              azure_tenant_id: SIM_TENANT_ID,
            },
            options: { azure_cloud: cloud },
          }),
          // AZURE_AUTHORITY_HOST wins over the cloud's authority: here, the simulator.
          env: simulatedAzure(stack),
        };
      });

      it(`asks Entra at AZURE_AUTHORITY_HOST for ${resource}/.default`, async () => {
        const request = await signedFor(stack, "entra", SIM_SECRET_APP.objectId);
        assert.equal(new URLSearchParams(request.body).get("scope"), `${resource}/.default`);
      });
    });
  }

  describe("with an explicit azure_token_scope", () => {
    const audience = "https://ai.azure.us";
    const stack = useStack((stack) => {
      stack.sim.control.updateConfig({ audience });
      return {
        plugin: pluginConfig(stack, {
          auth: { ...MANAGED_IDENTITY, azure_token_scope: `${audience}/.default` },
          options: { azure_cloud: "usgovernment" },
        }),
        env: simulatedAzure(stack),
      };
    });

    it("asks for that audience instead of the cloud's", async () => {
      const request = await signedFor(stack, "imds", SIM_SYSTEM_IDENTITY.objectId);
      assert.equal(request.query.resource, audience);
    });
  });
});


describe("the v1 API", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, {
      auth: MANAGED_IDENTITY,
      options: { azure_api_style: "v1", upstream_url: `${stack.simHttpUrl}/openai/v1/chat/completions` },
    }),
    env: simulatedAzure(stack),
  }));

  it("names the deployment as the body's model and adds no api-version", async () => {
    const openai = await chatThroughGateway(stack);
    assert.equal(openai.status, 200);
    assert.equal(openai.path, "/openai/v1/chat/completions");
    assert.equal(JSON.parse(openai.body).model, "kong-gpt-3-5");
    assert.equal(openai.query["api-version"], undefined);
  });
});
