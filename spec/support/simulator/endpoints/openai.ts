// Azure OpenAI data plane: deployment routes (with api-version) and the v1 routes
// (model in the body). Checks the caller's api-key or bearer token, then answers
// with OpenAI-shaped bodies, streamed as server-sent events on request.

import { createHash, randomBytes, randomUUID } from "node:crypto";

import type { EndpointContext, EndpointDefinition } from "../endpoint.ts";
import {
  isRecord,
  jsonResponse,
  nowSeconds,
  parseJson,
  sleep,
  type SimRequest,
  type SimResponse,
} from "../http-util.ts";
import type { AuthRecord, JsonObject } from "../types.ts";


type Operation = "chat/completions" | "completions" | "embeddings";

interface Route {
  operation: Operation;
  /** From the path on deployment routes; undefined on v1 routes. */
  deployment?: string;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}


const DEPLOYMENT_ROUTE = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)\/?$/;
const V1_ROUTE = /^\/openai\/v1\/(chat\/completions|completions|embeddings)\/?$/;
const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
const BEARER = /^Bearer\s+(\S+)\s*$/i;


function operationOf(text: string): Operation {
  return text === "chat/completions" || text === "completions" ? text : "embeddings";
}


function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}


function parseRoute(path: string): Route | undefined {
  const deploymentMatch = DEPLOYMENT_ROUTE.exec(path);
  if (deploymentMatch !== null) {
    return { deployment: decodePathSegment(deploymentMatch[1]), operation: operationOf(deploymentMatch[2]) };
  }
  const v1Match = V1_ROUTE.exec(path);
  return v1Match === null ? undefined : { operation: operationOf(v1Match[1]) };
}


/** Headers Azure OpenAI adds to its answers; the cookie is one a gateway should strip. */
function azureHeaders(): Record<string, string> {
  return {
    "apim-request-id": randomUUID(),
    "x-ms-region": "Simulated Region",
    "set-cookie": `sim-affinity=${randomBytes(8).toString("hex")}; Path=/; Secure; HttpOnly`,
  };
}


function answerJson(status: number, value: unknown, auth?: AuthRecord): SimResponse {
  return { ...jsonResponse(status, value, azureHeaders()), auth };
}


/** Azure's own error shape: `{"error":{"code","message"}}`. */
function azureError(status: number, code: string, message: string, auth?: AuthRecord): SimResponse {
  return answerJson(status, { error: { code, message } }, auth);
}


/** OpenAI's request error shape, which Azure OpenAI passes through for bad bodies. */
function invalidRequest(message: string, param: string | null, auth: AuthRecord): SimResponse {
  return answerJson(400, { error: { message, type: "invalid_request_error", param, code: null } }, auth);
}


function authenticate(request: SimRequest, context: EndpointContext): AuthRecord {
  const apiKey = request.headers["api-key"];
  if (apiKey !== undefined) {
    return apiKey === context.config.apiKey
      ? { kind: "api-key", accepted: true }
      : { kind: "api-key", accepted: false, reason: "wrong api-key" };
  }
  const authorization = request.headers["authorization"];
  if (authorization === undefined) {
    return { kind: "none", accepted: false, reason: "no credentials" };
  }
  const bearer = BEARER.exec(authorization);
  if (bearer === null) {
    return { kind: "none", accepted: false, reason: "authorization is not a bearer token" };
  }
  return { kind: "bearer", ...context.tokens.checkAccessToken(bearer[1]) };
}


function countTokens(text: string): number {
  return text.split(/\s+/).filter((word) => word !== "").length;
}


/** The text of a message's content, whether a string or an array of parts. */
function contentText(content: unknown): string {
  if (typeof content === "string") {
    return content;
  }
  if (Array.isArray(content)) {
    const parts: unknown[] = content;
    return parts
      .map((part) => (isRecord(part) && typeof part.text === "string" ? part.text : ""))
      .join(" ");
  }
  return "";
}


function promptText(prompt: unknown): string {
  if (Array.isArray(prompt)) {
    const items: unknown[] = prompt;
    return items.map((item) => (typeof item === "string" ? item : "")).join(" ");
  }
  return typeof prompt === "string" ? prompt : "";
}


/** Splits `text` into `count` pieces at word boundaries; joined, they give `text` back. */
function splitInto(text: string, count: number): string[] {
  const words = text.split(/(?<= )/);
  const pieces: string[] = [];
  const perPiece = Math.ceil(words.length / count);
  for (let index = 0; index < count; index++) {
    pieces.push(words.slice(index * perPiece, (index + 1) * perPiece).join(""));
  }
  return pieces;
}


function usageOf(prompt: string, completion: string): Usage {
  const promptTokens = countTokens(prompt);
  const completionTokens = countTokens(completion);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}


function embeddingOf(input: unknown, dimensions: number): number[] {
  const values: number[] = [];
  let block = Buffer.alloc(0);
  for (let index = 0; values.length < dimensions; index++) {
    if (index % 16 === 0) {
      block = createHash("sha256").update(`${index}:${JSON.stringify(input)}`).digest();
    }
    const word = block.readUInt16BE((index % 16) * 2);
    values.push(Number((word / 32767.5 - 1).toFixed(6)));
  }
  return values;
}


async function* eventStream(
  chunks: readonly JsonObject[],
  trailer: readonly JsonObject[],
  context: EndpointContext,
): AsyncGenerator<string> {
  const delayMs = context.config.streamChunkDelayMs;
  for (const chunk of chunks) {
    await sleep(delayMs, context.signal);
    yield `data: ${JSON.stringify(chunk)}\n\n`;
  }
  for (const chunk of trailer) {
    yield `data: ${JSON.stringify(chunk)}\n\n`;
  }
  yield "data: [DONE]\n\n";
}


/**
 * The answer as server-sent events: one chunk per piece of `text`, a closing chunk
 * (`chunkOf(undefined)`), and the usage chunk when the caller asked for it, as
 * OpenAI sends them. Every other chunk then carries `"usage": null`.
 */
function streamAnswer(
  request: Record<string, unknown>,
  text: string,
  chunkOf: (piece: string | undefined, index: number) => JsonObject,
  usageChunk: JsonObject,
  context: EndpointContext,
  auth: AuthRecord,
): SimResponse {
  const includeUsage = isRecord(request.stream_options) && request.stream_options.include_usage === true;
  const withUsage = (chunk: JsonObject): JsonObject => (includeUsage ? { ...chunk, usage: null } : chunk);
  const chunks = splitInto(text, context.config.streamChunks).map((piece, index) => withUsage(chunkOf(piece, index)));
  const trailer = [withUsage(chunkOf(undefined, chunks.length))];
  if (includeUsage) {
    trailer.push(usageChunk);
  }
  return {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      ...azureHeaders(),
    },
    stream: eventStream(chunks, trailer, context),
    auth,
  };
}


function chat(
  body: Record<string, unknown>,
  model: string,
  context: EndpointContext,
  auth: AuthRecord,
): SimResponse {
  const messagesValue = body.messages;
  if (!Array.isArray(messagesValue) || messagesValue.length === 0) {
    return invalidRequest("'messages' must be a non-empty array.", "messages", auth);
  }
  const messages: unknown[] = messagesValue;
  const texts = messages.map((message) => (isRecord(message) ? contentText(message.content) : ""));
  const question = texts[texts.length - 1];
  const answer = `Simulated answer from ${model} to: ${question}`;
  const usage = usageOf(texts.join(" "), answer);
  const id = `chatcmpl-${randomBytes(12).toString("hex")}`;
  const created = nowSeconds();
  const base = { id, created, model };

  if (body.stream !== true) {
    const message = { role: "assistant", content: answer };
    return answerJson(
      200,
      { ...base, object: "chat.completion", choices: [{ index: 0, message, finish_reason: "stop" }], usage: { ...usage } },
      auth,
    );
  }
  const chunkOf = (piece: string | undefined, index: number): JsonObject => {
    const delta: JsonObject =
      piece === undefined ? {} : index === 0 ? { role: "assistant", content: piece } : { content: piece };
    const finishReason = piece === undefined ? "stop" : null;
    return { ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finishReason }] };
  };
  const usageChunk = { ...base, object: "chat.completion.chunk", choices: [], usage: { ...usage } };
  return streamAnswer(body, answer, chunkOf, usageChunk, context, auth);
}


function completion(
  body: Record<string, unknown>,
  model: string,
  context: EndpointContext,
  auth: AuthRecord,
): SimResponse {
  if (body.prompt === undefined) {
    return invalidRequest("'prompt' is required.", "prompt", auth);
  }
  const prompt = promptText(body.prompt);
  const answer = ` Simulated completion from ${model}.`;
  const usage = usageOf(prompt, answer);
  const base = { id: `cmpl-${randomBytes(12).toString("hex")}`, object: "text_completion", created: nowSeconds(), model };
  const choice = (text: string, finishReason: string | null): JsonObject => ({
    text,
    index: 0,
    logprobs: null,
    finish_reason: finishReason,
  });

  if (body.stream !== true) {
    return answerJson(200, { ...base, choices: [choice(answer, "stop")], usage: { ...usage } }, auth);
  }
  const chunkOf = (piece: string | undefined): JsonObject =>
    ({ ...base, choices: [piece === undefined ? choice("", "stop") : choice(piece, null)] });
  return streamAnswer(body, answer, chunkOf, { ...base, choices: [], usage: { ...usage } }, context, auth);
}


function embeddings(
  body: Record<string, unknown>,
  model: string,
  context: EndpointContext,
  auth: AuthRecord,
): SimResponse {
  const input = body.input;
  const listed: unknown[] | undefined = Array.isArray(input) ? input : undefined;
  // A flat array of numbers is one input given as tokens, not several inputs.
  const inputs: unknown[] =
    listed !== undefined && (listed.length === 0 || typeof listed[0] !== "number") ? listed : [input];
  if (input === undefined || input === "" || inputs.length === 0) {
    return invalidRequest("'input' must be a non-empty string or array.", "input", auth);
  }
  const dimensions =
    typeof body.dimensions === "number" && Number.isInteger(body.dimensions) && body.dimensions > 0
      ? body.dimensions
      : context.config.embeddingDimensions;
  const asBase64 = body.encoding_format === "base64";
  const data = inputs.map((item, index) => {
    const vector = embeddingOf(item, dimensions);
    const embedding = asBase64
      ? Buffer.from(new Float32Array(vector).buffer).toString("base64")
      : vector;
    return { object: "embedding", index, embedding };
  });
  const promptTokens = inputs.reduce<number>(
    (total, item) => total + (typeof item === "string" ? countTokens(item) : Array.isArray(item) ? item.length : 1),
    0,
  );
  const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens };
  return answerJson(200, { object: "list", data, model, usage }, auth);
}


export const openaiEndpoint: EndpointDefinition = {
  name: "openai",
  ports: ["http", "https"],
  matches: (path) => path === "/openai" || path.startsWith("/openai/"),
  errorResponse: (status, message) => azureError(status, String(status), message),
  malformedBody: '{"id":"chatcmpl-sim","object":"chat.completion","choices":[{"index":0,"mess',

  handle(request, context) {
    const auth = authenticate(request, context);
    if (!auth.accepted) {
      const message =
        auth.kind === "api-key"
          ? "Access denied: the api-key is not valid for this resource."
          : "Access denied: the access token is missing, invalid, expired or for another audience.";
      return azureError(401, "401", message, auth);
    }
    const route = parseRoute(request.path);
    if (route === undefined) {
      return azureError(404, "404", "Resource not found", auth);
    }
    if (request.method !== "POST") {
      return azureError(405, "405", "Only POST is supported on this route.", auth);
    }
    if (route.deployment !== undefined && !API_VERSION.test(request.query["api-version"] ?? "")) {
      return azureError(404, "404", "Resource not found", auth);
    }
    const parsed = parseJson(request.body);
    if (!parsed.ok || !isRecord(parsed.value)) {
      return invalidRequest("The request body is not a valid JSON object.", null, auth);
    }
    const body = parsed.value;
    const deploymentName = route.deployment ?? (typeof body.model === "string" ? body.model : undefined);
    if (deploymentName === undefined) {
      return invalidRequest("'model' is required.", "model", auth);
    }
    const deployments = context.config.deployments;
    const deployment = Object.hasOwn(deployments, deploymentName) ? deployments[deploymentName] : undefined;
    if (deployment === undefined) {
      return azureError(
        404,
        "DeploymentNotFound",
        `The deployment '${deploymentName}' does not exist on this resource.`,
        auth,
      );
    }
    switch (route.operation) {
      case "chat/completions":
        return chat(body, deployment.model, context, auth);
      case "completions":
        return completion(body, deployment.model, context, auth);
      case "embeddings":
        return embeddings(body, deployment.model, context, auth);
    }
  },
};
