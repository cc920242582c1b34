import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SIM_API_KEY } from "../support/simulator/index.ts";
import { useStack } from "./support/stack.ts";

const CHAT = { messages: [{ role: "user", content: "Hello" }] };

describe("ai-proxy-azure with an api-key header", () => {
  const stack = useStack((stack) => ({
    plugin: {
      route_type: "llm/v1/chat",
      auth: { header_name: "api-key", header_value: SIM_API_KEY },
      model: {
        provider: "azure",
        name: "gpt-35-turbo",
        options: {
          azure_instance: "my-openai-instance",
          azure_deployment_id: "kong-gpt-3-5",
          upstream_url: `${stack.simHttpUrl}/openai/deployments/kong-gpt-3-5/chat/completions`,
        },
      },
    },
  }));

  it("answers a chat request with Azure OpenAI's completion", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { object: string; choices: unknown[] };
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices.length, 1);
  });

  it("sends the configured key to the deployment's chat endpoint with the default api-version", async () => {
    stack.sim.control.clearJournal();
    await stack.post("/openai", CHAT);
    const [request] = stack.sim.control.journal({ endpoint: "openai" });
    assert.ok(request, "Azure OpenAI received no request");
    assert.equal(request.path, "/openai/deployments/kong-gpt-3-5/chat/completions");
    assert.equal(request.query["api-version"], "2023-05-15");
    assert.equal(request.headers["api-key"], SIM_API_KEY);
    assert.deepEqual(request.auth, { kind: "api-key", accepted: true });
  });

  it("removes Set-Cookie and names the model in X-Kong-LLM-Model", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.headers.get("set-cookie"), null);
    assert.equal(response.headers.get("x-kong-llm-model"), "azure/gpt-35-turbo");
  });
});
