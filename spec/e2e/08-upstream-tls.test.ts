// TLS to Azure OpenAI. Kong verifies the upstream's certificate only when the
// Service sets tls_verify and names the CA certificates; the plugin points the
// request at another host than the Service's, and the check must follow it.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createTestCertificates } from "../support/simulator/certs.ts";
import { SIM_API_KEY } from "../support/simulator/index.ts";
import { CHAT, pluginConfig } from "./support/config.ts";
import { useStack, type Stack, type StackOptions } from "./support/stack.ts";

const CA_ID = "5f0e3b4e-2d6c-4c1a-9a53-0c6c1d1f6a11";
const CHAT_PATH = "/openai/deployments/kong-gpt-3-5/chat/completions";

function verifyingAgainst(stack: Stack, caPem: string): StackOptions {
  return {
    plugin: pluginConfig(stack, {
      auth: { header_name: "api-key", header_value: SIM_API_KEY },
      options: { upstream_url: `${stack.simHttpsUrl}${CHAT_PATH}` },
    }),
    service: { tls_verify: true, ca_certificates: [CA_ID] },
    caCertificates: [{ id: CA_ID, cert: caPem }],
  };
}

async function anotherCa(): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), "ai-proxy-azure-other-ca-"));
  try {
    const certificates = await createTestCertificates(directory);
    return readFileSync(certificates.caPath, "utf8");
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

describe("a Service with tls_verify and the CA of Azure OpenAI's certificate", () => {
  const stack = useStack((stack) => verifyingAgainst(stack, readFileSync(stack.sim.caPath, "utf8")));

  it("reaches Azure OpenAI over TLS checked against the host the plugin set", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 200, await response.clone().text());
    const [entry] = stack.sim.control.journal({ endpoint: "openai" });
    assert.equal(entry.port, "https");
    assert.equal(entry.path, CHAT_PATH);
  });

  it("sends nothing to an Azure OpenAI whose certificate another CA signed", async () => {
    await stack.restart(verifyingAgainst(stack, await anotherCa()));
    stack.sim.control.clearJournal();
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 502);
    assert.equal(stack.sim.control.journal({ endpoint: "openai" }).length, 0);
  });
});
