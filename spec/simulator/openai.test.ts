import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";

import {
  SIM_API_KEY,
  SIM_SYSTEM_IDENTITY,
  startSimulator,
  type Simulator,
} from "../support/simulator/index.ts";
import { call, forge, isRecord, jsonOf, open, type Answer } from "./helpers.ts";


const API_VERSION = "2024-10-21";
const CHAT_BODY = JSON.stringify({ messages: [{ role: "user", content: "How far is the moon?" }] });

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


function bearer(token: string = simulator.control.accessToken({}).token): Record<string, string> {
  return { authorization: `Bearer ${token}`, "content-type": "application/json" };
}


function post(path: string, body: string, headers: Record<string, string> = bearer()): Promise<Answer> {
  return call(`${simulator.httpUrl}${path}`, { method: "POST", body, headers });
}


function deploymentPath(deployment: string, operation: string): string {
  return `/openai/deployments/${deployment}/${operation}?api-version=${API_VERSION}`;
}


function lastAuth() {
  const entries = simulator.control.journal({ endpoint: "openai" });
  return entries[entries.length - 1]?.auth;
}


describe("Azure OpenAI data plane: answers", () => {
  it("answers a chat completion with the deployment's model and a cookie to strip", async () => {
    const answer = await post(deploymentPath("gpt-4o", "chat/completions"), CHAT_BODY);
    assert.equal(answer.status, 200, answer.body);
    const body = jsonOf(answer);
    assert.equal(body.object, "chat.completion");
    assert.equal(body.model, "gpt-4o-2024-08-06");
    assert.match(String(body.id), /^chatcmpl-/);
    assert.equal(typeof body.created, "number");
    assert.ok(Array.isArray(body.choices) && body.choices.length === 1);
    const choice: unknown = body.choices[0];
    assert.ok(isRecord(choice) && isRecord(choice.message));
    assert.equal(choice.index, 0);
    assert.equal(choice.finish_reason, "stop");
    assert.equal(choice.message.role, "assistant");
    assert.match(String(choice.message.content), /How far is the moon\?/);
    assert.ok(isRecord(body.usage));
    assert.equal(body.usage.total_tokens, Number(body.usage.prompt_tokens) + Number(body.usage.completion_tokens));
    assert.match(String(answer.headers["set-cookie"]), /^sim-affinity=/);
  });

  it("serves the data plane on the HTTPS port too", async () => {
    const answer = await call(`${simulator.httpsUrl}${deploymentPath("gpt-35-turbo", "chat/completions")}`, {
      method: "POST", body: CHAT_BODY, headers: bearer(), caPath: simulator.caPath,
    });
    assert.equal(answer.status, 200);
    assert.equal(simulator.control.journal({ endpoint: "openai" })[0].port, "https");
  });

  it("answers the v1 route, with the deployment named in the body", async () => {
    const answer = await post("/openai/v1/chat/completions", JSON.stringify({ model: "gpt-35-turbo", messages: [{ role: "user", content: "hi" }] }));
    assert.equal(answer.status, 200, answer.body);
    assert.equal(jsonOf(answer).model, "gpt-35-turbo");
  });

  it("answers a text completion", async () => {
    const answer = await post(deploymentPath("gpt-35-turbo", "completions"), JSON.stringify({ prompt: "Once upon a time" }));
    const body = jsonOf(answer);
    assert.equal(body.object, "text_completion");
    assert.ok(Array.isArray(body.choices));
    const choice: unknown = body.choices[0];
    assert.ok(isRecord(choice) && typeof choice.text === "string" && choice.finish_reason === "stop");
  });

  it("answers embeddings, one vector of floats per input", async () => {
    const answer = await post(
      deploymentPath("text-embedding-3-small", "embeddings"),
      JSON.stringify({ input: ["first text", "second text"] }),
    );
    const body = jsonOf(answer);
    assert.equal(body.object, "list");
    assert.equal(body.model, "text-embedding-3-small");
    assert.ok(Array.isArray(body.data) && body.data.length === 2);
    const [first, second]: unknown[] = body.data;
    assert.ok(isRecord(first) && isRecord(second));
    assert.equal(first.object, "embedding");
    assert.deepEqual([first.index, second.index], [0, 1]);
    assert.ok(Array.isArray(first.embedding) && first.embedding.length === 8);
    const values: unknown[] = first.embedding;
    assert.ok(values.every((value) => typeof value === "number" && value >= -1 && value <= 1));
    assert.notDeepEqual(first.embedding, second.embedding);
    assert.ok(isRecord(body.usage) && body.usage.prompt_tokens === 4 && body.usage.total_tokens === 4);
  });

  it("answers base64 embeddings when asked", async () => {
    const body = jsonOf(await post(
      deploymentPath("text-embedding-3-small", "embeddings"),
      JSON.stringify({ input: "text", encoding_format: "base64", dimensions: 4 }),
    ));
    assert.ok(Array.isArray(body.data));
    const item: unknown = body.data[0];
    assert.ok(isRecord(item) && typeof item.embedding === "string");
    assert.equal(Buffer.from(item.embedding, "base64").length, 4 * 4);
  });

  const refusals: [string, () => Promise<Answer>, number, unknown][] = [
    ["a deployment route without api-version", () => post("/openai/deployments/gpt-4o/chat/completions", CHAT_BODY),
      404, { error: { code: "404", message: "Resource not found" } }],
    ["an unknown route", () => post(`/openai/deployments/gpt-4o/images?api-version=${API_VERSION}`, CHAT_BODY),
      404, { error: { code: "404", message: "Resource not found" } }],
    ["an unknown deployment", () => post(deploymentPath("nope", "chat/completions"), CHAT_BODY),
      404, { error: { code: "DeploymentNotFound", message: "The deployment 'nope' does not exist on this resource." } }],
    ["a body that is not JSON", () => post(deploymentPath("gpt-4o", "chat/completions"), "{not json"),
      400, { error: { message: "The request body is not a valid JSON object.", type: "invalid_request_error", param: null, code: null } }],
    ["a chat without messages", () => post(deploymentPath("gpt-4o", "chat/completions"), "{}"),
      400, { error: { message: "'messages' must be a non-empty array.", type: "invalid_request_error", param: "messages", code: null } }],
    ["a v1 call without model", () => post("/openai/v1/chat/completions", CHAT_BODY),
      400, { error: { message: "'model' is required.", type: "invalid_request_error", param: "model", code: null } }],
  ];
  for (const [what, send, status, expected] of refusals) {
    it(`answers ${status} to ${what}`, async () => {
      const answer = await send();
      assert.equal(answer.status, status);
      assert.deepEqual(jsonOf(answer), expected);
    });
  }
});


describe("Azure OpenAI data plane: authentication", () => {
  const path = () => deploymentPath("gpt-35-turbo", "chat/completions");

  it("accepts a token from IMDS and journals whose it was", async () => {
    const issued = jsonOf(await call(
      `${simulator.httpUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://cognitiveservices.azure.com`,
      { headers: { Metadata: "true" } },
    ));
    const answer = await post(path(), CHAT_BODY, bearer(String(issued.access_token)));
    assert.equal(answer.status, 200);
    assert.deepEqual(lastAuth(), {
      kind: "bearer", accepted: true, oid: SIM_SYSTEM_IDENTITY.objectId, appid: SIM_SYSTEM_IDENTITY.clientId,
    });
  });

  it("accepts the configured api-key", async () => {
    const answer = await post(path(), CHAT_BODY, { "api-key": SIM_API_KEY });
    assert.equal(answer.status, 200);
    assert.deepEqual(lastAuth(), { kind: "api-key", accepted: true });
  });

  const refusals: [string, () => Record<string, string>, string, string][] = [
    ["no credentials", () => ({}), "none", "no credentials"],
    ["a wrong api-key", () => ({ "api-key": "wrong" }), "api-key", "wrong api-key"],
    ["a forged token", () => bearer(forge(simulator.control.accessToken({}).token)), "bearer", "invalid signature"],
    ["an expired token", () => bearer(simulator.control.accessToken({ lifetimeSeconds: -60 }).token), "bearer", "token expired"],
    ["a token for another audience", () => bearer(simulator.control.accessToken({ audience: "https://management.azure.com" }).token),
      "bearer", "wrong audience (expected https://cognitiveservices.azure.com)"],
    ["an unsigned token", () => bearer(unsigned(simulator.control.accessToken({}).token)), "bearer", "unsupported algorithm none"],
    ["a token that is not a JWT", () => bearer("opaque-token"), "bearer", "token is not a compact JWS"],
    ["Basic credentials", () => ({ authorization: "Basic dXNlcjpwYXNz" }), "none", "authorization is not a bearer token"],
  ];
  for (const [what, headers, kind, reason] of refusals) {
    it(`refuses ${what} with 401 in Azure's shape`, async () => {
      const answer = await post(path(), CHAT_BODY, headers());
      assert.equal(answer.status, 401);
      const body = jsonOf(answer);
      assert.ok(isRecord(body.error));
      assert.equal(body.error.code, "401");
      assert.equal(typeof body.error.message, "string");
      const auth = lastAuth();
      assert.equal(auth?.kind, kind);
      assert.equal(auth?.accepted, false);
      assert.equal(auth?.reason, reason);
    });
  }

  it("journals the identity a refused token names, and only what it names", async () => {
    const token = forge(simulator.control.accessToken({}).token, { oid: undefined });
    await post(path(), CHAT_BODY, bearer(token));
    assert.deepEqual(lastAuth(), {
      kind: "bearer", accepted: false, reason: "invalid signature", appid: SIM_SYSTEM_IDENTITY.clientId,
    });
  });

  it("refuses a token once the required audience changes", async () => {
    const token = simulator.control.accessToken({}).token;
    assert.equal((await post(path(), CHAT_BODY, bearer(token))).status, 200);
    simulator.control.updateConfig({ audience: "https://cognitiveservices.azure.us" });
    assert.equal((await post(path(), CHAT_BODY, bearer(token))).status, 401);
  });
});


function unsigned(token: string): string {
  const [, payload] = token.split(".");
  const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
  return `${header}.${payload}.`;
}


interface StreamEvent {
  at: number;
  data: string;
}


/** Reads a server-sent event stream, noting when each event arrived. */
async function readEvents(path: string, body: unknown): Promise<{ headers: Record<string, unknown>; events: StreamEvent[]; start: number }> {
  const start = performance.now();
  const response = await open(`${simulator.httpUrl}${path}`, { method: "POST", headers: bearer(), body: JSON.stringify(body) });
  const events: StreamEvent[] = [];
  let buffered = "";
  await new Promise<void>((resolve, reject) => {
    response.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let end = buffered.indexOf("\n\n");
      while (end !== -1) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        events.push({ at: performance.now(), data: event.replace(/^data: /, "") });
        end = buffered.indexOf("\n\n");
      }
    });
    response.on("end", resolve);
    response.on("error", reject);
  });
  return { headers: response.headers, events, start };
}


function parsedChunks(events: StreamEvent[]): Record<string, unknown>[] {
  return events.filter((event) => event.data !== "[DONE]").map((event) => {
    const value: unknown = JSON.parse(event.data);
    assert.ok(isRecord(value));
    return value;
  });
}


function deltaOf(chunk: Record<string, unknown>): Record<string, unknown> | undefined {
  const choices: unknown = chunk.choices;
  if (!Array.isArray(choices) || choices.length === 0) {
    return undefined;
  }
  const choice: unknown = choices[0];
  return isRecord(choice) && isRecord(choice.delta) ? choice.delta : undefined;
}


describe("Azure OpenAI data plane: streaming", () => {
  it("sends chunks one by one over time, then [DONE]", async () => {
    simulator.control.updateConfig({ streamChunks: 4, streamChunkDelayMs: 60 });
    const { headers, events, start } = await readEvents(
      deploymentPath("gpt-35-turbo", "chat/completions"),
      { messages: [{ role: "user", content: "Tell me a story" }], stream: true },
    );

    assert.match(String(headers["content-type"]), /^text\/event-stream/);
    assert.equal(events[events.length - 1].data, "[DONE]");
    const chunks = parsedChunks(events);
    assert.equal(chunks.length, 5);
    assert.ok(chunks.every((chunk) => chunk.object === "chat.completion.chunk"));
    const contentEvents = events.slice(0, 4);
    assert.ok(contentEvents[0].at - start >= 45, `first chunk after ${contentEvents[0].at - start} ms`);
    // Spread over the stream, not gap by gap: a stall in this process (which also runs the
    // simulator) shortens the gap after it, while a buffered stream arrives all at once.
    const spread = contentEvents[3].at - contentEvents[0].at;
    assert.ok(spread >= 120, `chunks 1 to 4 came within ${spread} ms`);
    const text = chunks.map((chunk) => deltaOf(chunk)?.content ?? "").join("");
    assert.equal(text, "Simulated answer from gpt-35-turbo to: Tell me a story");
    assert.equal(deltaOf(chunks[0])?.role, "assistant");
    const last: unknown = chunks[4].choices;
    assert.ok(Array.isArray(last) && isRecord(last[0]) && last[0].finish_reason === "stop");
  });

  it("adds a usage chunk with no choices when stream_options.include_usage is set", async () => {
    simulator.control.updateConfig({ streamChunkDelayMs: 0 });
    const { events } = await readEvents(deploymentPath("gpt-35-turbo", "chat/completions"), {
      messages: [{ role: "user", content: "Hello" }], stream: true, stream_options: { include_usage: true },
    });
    const chunks = parsedChunks(events);
    const usageChunk = chunks[chunks.length - 1];
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(isRecord(usageChunk.usage) && typeof usageChunk.usage.total_tokens === "number");
    assert.ok(chunks.slice(0, -1).every((chunk) => chunk.usage === null));
  });

  it("streams text completions too", async () => {
    simulator.control.updateConfig({ streamChunkDelayMs: 0, streamChunks: 2 });
    const { events } = await readEvents(deploymentPath("gpt-35-turbo", "completions"), { prompt: "Say", stream: true });
    const chunks = parsedChunks(events);
    assert.equal(chunks.length, 3);
    assert.ok(chunks.every((chunk) => chunk.object === "text_completion"));
    assert.equal(events[events.length - 1].data, "[DONE]");
  });
});
