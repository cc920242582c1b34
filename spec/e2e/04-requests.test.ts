// What Azure OpenAI receives for each route type, and how the plugin checks
// and completes the client's request and cleans the answer.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SIM_API_KEY, SIM_EMBEDDINGS_DEPLOYMENT, SIM_SYSTEM_IDENTITY, type JournalEntry } from "../support/simulator/index.ts";
import { CHAT, pluginConfig, simulatedAzure, type ConfigChanges } from "./support/config.ts";
import { useStack, type Stack } from "./support/stack.ts";

const API_KEY_HEADER = { header_name: "api-key", header_value: SIM_API_KEY };

function lastOpenAi(stack: Stack): JournalEntry {
  const entries = stack.sim.control.journal({ endpoint: "openai" });
  const last = entries.at(-1);
  assert.ok(last, "Azure OpenAI received no request");
  return last;
}

async function errorOf(response: Response): Promise<string> {
  const body = (await response.json()) as { error: { message: string } };
  return body.error.message;
}

/** Posts a body with Transfer-Encoding: chunked, so the gateway learns its size only by reading it. */
function postChunked(stack: Stack, path: string, text: string): Promise<Response> {
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  const init: RequestInit & { duplex: "half" } = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    duplex: "half",
  };
  return fetch(`${stack.gateway.url}${path}`, init);
}

function withKey(stack: Stack, changes: ConfigChanges = {}) {
  return { plugin: pluginConfig(stack, { auth: API_KEY_HEADER, ...changes }) };
}

describe("a Service declared by IP address", () => {
  // The harness's Service is http://127.0.0.1:9; Kong decides from it that the
  // upstream host needs no name resolution.
  const stack = useStack((stack) =>
    withKey(stack, {
      options: {
        upstream_url: `${stack.simHttpUrl.replace("//127.0.0.1", "//localhost")}/openai/deployments/kong-gpt-3-5/chat/completions`,
      },
    }),
  );

  it("still reaches an Azure OpenAI host given by name", async () => {
    const response = await stack.post("/openai", CHAT);
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(lastOpenAi(stack).path, "/openai/deployments/kong-gpt-3-5/chat/completions");
  });
});

describe("route types", () => {
  const stack = useStack((stack) => withKey(stack, { computedUrl: true }));

  const cases = [
    {
      route_type: "llm/v1/chat",
      body: CHAT,
      path: "/openai/deployments/kong-gpt-3-5/chat/completions",
      object: "chat.completion",
    },
    {
      route_type: "llm/v1/completions",
      body: { prompt: "Say hello" },
      path: "/openai/deployments/kong-gpt-3-5/completions",
      object: "text_completion",
    },
    {
      route_type: "llm/v1/embeddings",
      body: { input: "hello" },
      path: `/openai/deployments/${SIM_EMBEDDINGS_DEPLOYMENT}/embeddings`,
      object: "list",
      deployment: SIM_EMBEDDINGS_DEPLOYMENT,
    },
  ];
  for (const { route_type, body, path, object, deployment } of cases) {
    it(`sends ${route_type} to ${path}`, async () => {
      await stack.restart(
        withKey(stack, {
          route_type,
          deployment,
          model_name: null,
          options: { upstream_url: `${stack.simHttpUrl}${path}` },
        }),
      );
      const response = await stack.post("/openai", body);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { object: string }).object, object);
      const request = lastOpenAi(stack);
      assert.equal(request.path, path);
      assert.equal(request.query["api-version"], "2023-05-15");
    });
  }

  it("preserve keeps the client's path and body as they are", async () => {
    await stack.restart({
      plugin: pluginConfig(stack, {
        route_type: "preserve",
        auth: API_KEY_HEADER,
        options: { upstream_url: stack.simHttpUrl },
      }),
      path: "/",
    });
    const raw = '{"input":"kept as sent"}';
    const response = await stack.post(`/openai/deployments/${SIM_EMBEDDINGS_DEPLOYMENT}/embeddings?api-version=2024-02-01`, raw);
    assert.equal(response.status, 200);
    const request = lastOpenAi(stack);
    assert.equal(request.path, `/openai/deployments/${SIM_EMBEDDINGS_DEPLOYMENT}/embeddings`);
    assert.equal(request.query["api-version"], "2024-02-01");
    assert.equal(request.body, raw);
  });

  it("takes the client's api-version over the configured one", async () => {
    await stack.restart(withKey(stack, { options: { azure_api_version: "2024-06-01" } }));
    await stack.post("/openai?api-version=2024-10-21", CHAT);
    assert.equal(lastOpenAi(stack).query["api-version"], "2024-10-21");
    await stack.post("/openai", CHAT);
    assert.equal(lastOpenAi(stack).query["api-version"], "2024-06-01");
  });
});

describe("request checks", () => {
  const stack = useStack((stack) => withKey(stack));

  it("refuses a body naming another model with 400", async () => {
    const response = await stack.post("/openai", { ...CHAT, model: "gpt-4o" });
    assert.equal(response.status, 400);
    assert.match(await errorOf(response), /'gpt-4o' is not served here: this route serves 'gpt-35-turbo'/);
  });

  it("accepts a body naming the configured model", async () => {
    const response = await stack.post("/openai", { ...CHAT, model: "gpt-35-turbo" });
    assert.equal(response.status, 200);
  });

  it("refuses a body over max_request_body_size with 413", async () => {
    stack.sim.control.clearJournal();
    const big = { messages: [{ role: "user", content: "x".repeat(9000) }] };
    const response = await stack.post("/openai", big);
    assert.equal(response.status, 413);
    assert.match(await errorOf(response), /larger than 8192 bytes/);
    assert.equal(stack.sim.control.journal({ endpoint: "openai" }).length, 0);
  });

  it("refuses a body over max_request_body_size with 413 when it arrives chunked, with no length", async () => {
    await stack.restart({ ...withKey(stack, { extra: { max_request_body_size: 16_384 } }) });
    stack.sim.control.clearJournal();
    const big = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(20_000) }] });
    const response = await postChunked(stack, "/openai", big);
    assert.equal(response.status, 413);
    assert.match(await errorOf(response), /larger than 16384 bytes/);
    assert.equal(stack.sim.control.journal({ endpoint: "openai" }).length, 0);
  });

  it("takes a body within max_request_body_size that nginx kept in a file, past client_body_buffer_size", async () => {
    await stack.restart({ ...withKey(stack, { extra: { max_request_body_size: 65_536 } }) });
    const content = "x".repeat(20_000);
    const response = await stack.post("/openai", { messages: [{ role: "user", content }] });
    assert.equal(response.status, 200, await response.clone().text());
    const sent = JSON.parse(lastOpenAi(stack).body) as { messages: { content: string }[] };
    assert.equal(sent.messages[0].content, content);
  });

  it("refuses a JSON array for a body with 400", async () => {
    const response = await stack.post("/openai", [CHAT]);
    assert.equal(response.status, 400);
    assert.equal(await errorOf(response), "request body must be a JSON object");
  });

  it("refuses a body that is not JSON with 400", async () => {
    const response = await stack.post("/openai", "this is not json");
    assert.equal(response.status, 400);
    assert.match(response.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(await errorOf(response), "request body must be a JSON object");
  });

  it("fills max_tokens, temperature and top_p the client left out, and keeps the ones it set", async () => {
    await stack.restart(withKey(stack, { options: { max_tokens: 256, temperature: 0.5, top_p: 0.9 } }));
    await stack.post("/openai", { ...CHAT, temperature: 1.5 });
    const sent = JSON.parse(lastOpenAi(stack).body) as Record<string, unknown>;
    assert.equal(sent.max_tokens, 256);
    assert.equal(sent.temperature, 1.5);
    assert.equal(sent.top_p, 0.9);
    assert.deepEqual(sent.messages, CHAT.messages);
  });
});

describe("streaming", () => {
  const stack = useStack((stack) => withKey(stack));

  it("passes SSE chunks through as they arrive, not at the end", async () => {
    stack.sim.control.updateConfig({ streamChunkDelayMs: 250, streamChunks: 4 });
    const response = await stack.post("/openai", { ...CHAT, stream: true });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);

    const arrivals: number[] = [];
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of response.body!) {
      arrivals.push(Date.now());
      text += decoder.decode(chunk, { stream: true });
    }
    assert.match(text, /data: \[DONE\]/);
    assert.ok(arrivals.length >= 3, `the stream came in ${arrivals.length} piece(s)`);
    // The chunks are 250 ms apart at the source; held until the end they would come together.
    assert.ok(arrivals.at(-1)! - arrivals[0]! >= 500, "the chunks arrived all at once");
  });

  it("refuses stream: true with 400 when response_streaming is deny", async () => {
    await stack.restart(withKey(stack, { extra: { response_streaming: "deny" } }));
    const response = await stack.post("/openai", { ...CHAT, stream: true });
    assert.equal(response.status, 400);
    assert.match(await errorOf(response), /streaming is not allowed/);
  });

  it("makes every request stream when response_streaming is always", async () => {
    await stack.restart(withKey(stack, { extra: { response_streaming: "always" } }));
    const response = await stack.post("/openai", CHAT);
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
    await response.text();
    assert.equal((JSON.parse(lastOpenAi(stack).body) as { stream?: boolean }).stream, true);
  });
});

describe("static keys", () => {
  const stack = useStack((stack) => withKey(stack));

  it("sends the key as a query parameter", async () => {
    await stack.restart({
      plugin: pluginConfig(stack, { auth: { param_name: "api-key-param", param_value: "query-key", param_location: "query" } }),
    });
    await stack.post("/openai", CHAT);
    const request = lastOpenAi(stack);
    assert.equal(request.query["api-key-param"], "query-key");
    assert.equal(request.headers["api-key"], undefined);
  });

  it("sends the key as a body field", async () => {
    await stack.restart({
      plugin: pluginConfig(stack, { auth: { param_name: "key_in_body", param_value: "body-key", param_location: "body" } }),
    });
    await stack.post("/openai", CHAT);
    assert.equal((JSON.parse(lastOpenAi(stack).body) as Record<string, unknown>).key_in_body, "body-key");
  });
});

describe("a client's own credential", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
    env: simulatedAzure(stack),
  }));

  it("never reaches Azure when allow_override is off", async () => {
    const clientToken = stack.sim.control.accessToken({ oid: "client-object-id" }).token;
    await stack.post("/openai", CHAT, { authorization: `Bearer ${clientToken}`, "api-key": "client-key" });
    const request = lastOpenAi(stack);
    assert.equal(request.headers["api-key"], undefined);
    assert.equal(request.auth?.oid, SIM_SYSTEM_IDENTITY.objectId);
    assert.notEqual(request.headers.authorization, `Bearer ${clientToken}`);
  });

  it("goes through instead of the plugin's token when allow_override is on", async () => {
    await stack.restart({
      plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true, allow_override: true } }),
      env: simulatedAzure(stack),
    });
    stack.sim.control.clearJournal();
    const clientToken = stack.sim.control.accessToken({ oid: "client-object-id" }).token;
    const response = await stack.post("/openai", CHAT, { authorization: `Bearer ${clientToken}` });
    assert.equal(response.status, 200);
    assert.equal(lastOpenAi(stack).auth?.oid, "client-object-id");
    assert.equal(stack.sim.control.journal({ endpoint: "imds" }).length, 0, "no token should be fetched");
  });
});
