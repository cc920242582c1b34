// What the plugin puts into each request's serialized log (where Kong's log
// plugins and Prometheus read it), what the error log says about the
// identity, and that neither ever holds a token or a secret.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isRecord } from "../support/simulator/http-util.ts";
import {
  SIM_API_KEY,
  SIM_CHAT_DEPLOYMENT_4O,
  SIM_DOCUMENTED_DEPLOYMENT,
  SIM_EMBEDDINGS_DEPLOYMENT,
  SIM_SECRET_APP,
  SIM_TENANT_ID,
  SIM_WORKLOAD_APP,
} from "../support/simulator/index.ts";
import { waitFor } from "../support/wait.ts";
import { CHAT, pluginConfig, simulatedAzure, type ConfigChanges } from "./support/config.ts";
import { useStack, type Stack } from "./support/stack.ts";

type Entry = Record<string, unknown>;

const STATISTICS = { logging: { log_statistics: true, log_payloads: false } };
const PAYLOADS = { logging: { log_statistics: false, log_payloads: true } };
const BOTH = { logging: { log_statistics: true, log_payloads: true } };
const CUT_MARKER = /\[cut by ai-proxy-azure: 65536 of (\d+) bytes logged\]$/;

/** The value at a path of keys, or undefined where the path leaves the objects. */
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) {
      return undefined;
    }
    current = current[key];
  }
  return current;
}

function text(value: unknown): string {
  assert.equal(typeof value, "string", `expected a string, got ${JSON.stringify(value)}`);
  return String(value);
}

/** The entries of the scenario's requests: not those of the launcher's readiness probes (GET /). */
async function scenarioEntries(stack: Stack): Promise<Entry[]> {
  const entries = await stack.gateway.serializedLogs();
  return entries.filter((entry) => !(at(entry, "request", "method") === "GET" && at(entry, "request", "uri") === "/"));
}

/** The serialized log of the next request to finish after `before` entries. */
async function nextEntry(stack: Stack, before: number): Promise<Entry> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const entries = await scenarioEntries(stack);
    if (entries.length > before) {
      assert.equal(entries.length, before + 1, "more than one request was logged");
      return entries[before]!;
    }
    if (Date.now() > deadline) {
      throw new Error("the request's serialized log never appeared");
    }
    await sleep(25);
  }
}

/** Sends one request, reads its whole answer, and returns both with the log entry. */
async function logged(
  stack: Stack,
  path: string,
  body: unknown,
): Promise<{ status: number; answer: string; entry: Entry }> {
  const before = (await scenarioEntries(stack)).length;
  const response = await stack.post(path, body);
  const answer = await response.text();
  return { status: response.status, answer, entry: await nextEntry(stack, before) };
}

/** The data of each event of an SSE body, parsed, without [DONE]. */
function events(body: string): Record<string, unknown>[] {
  return body
    .split(/\r?\n\r?\n/)
    .map((event) => /^data: (.*)$/m.exec(event)?.[1])
    .filter((data): data is string => data !== undefined && data !== "[DONE]")
    .map((data) => {
      const parsed: unknown = JSON.parse(data);
      assert.ok(isRecord(parsed));
      return parsed;
    });
}

function sentBody(stack: Stack): Record<string, unknown> {
  const last = stack.sim.control.journal({ endpoint: "openai" }).at(-1);
  assert.ok(last, "Azure OpenAI received no request");
  const body: unknown = JSON.parse(last.body);
  assert.ok(isRecord(body));
  return body;
}

function identityConfig(stack: Stack, changes: ConfigChanges = {}) {
  return {
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true }, extra: STATISTICS, ...changes }),
    env: simulatedAzure(stack),
  };
}

describe("log_statistics", () => {
  const stack = useStack((stack) => identityConfig(stack));

  it("logs provider, models, tokens, latency and the Azure deployment of a chat completion under ai.proxy", async () => {
    await stack.restart(
      identityConfig(stack, { model_name: "gpt-4o", deployment: SIM_CHAT_DEPLOYMENT_4O, extra: STATISTICS }),
    );
    const { status, answer, entry } = await logged(stack, "/openai", CHAT);
    assert.equal(status, 200);
    const usage = at(JSON.parse(answer), "usage");

    const meta = at(entry, "ai", "proxy", "meta");
    assert.ok(isRecord(meta));
    assert.match(text(meta.plugin_id), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const latency = meta.llm_latency;
    assert.ok(typeof latency === "number" && latency >= 0, `llm_latency: ${latency}`);
    assert.deepEqual(meta, {
      plugin_id: meta.plugin_id,
      provider_name: "azure",
      request_model: "gpt-4o",
      response_model: "gpt-4o-2024-08-06",
      llm_latency: latency,
      azure_instance_id: "my-openai-instance",
      azure_deployment_id: SIM_CHAT_DEPLOYMENT_4O,
      azure_api_version: "2023-05-15",
    });

    assert.ok(isRecord(usage));
    const completion = usage.completion_tokens;
    assert.ok(typeof completion === "number" && completion > 0);
    assert.deepEqual(at(entry, "ai", "proxy", "usage"), {
      ...usage,
      time_per_token: Math.floor(latency / completion),
    });
    assert.deepEqual(at(entry, "ai", "proxy", "cache"), {});
  });

  it("says which identity signed the request", async () => {
    const { entry } = await logged(stack, "/openai", CHAT);
    const identity = at(entry, "ai-proxy-azure", "identity");
    assert.ok(isRecord(identity));
    assert.equal(identity.source, "managed identity (IMDS)");
    assert.equal(identity.identity, "system-assigned");
    assert.equal(identity.endpoint_host, new URL(stack.simHttpUrl).host);
    assert.equal(identity.error, undefined);
  });

  it("logs the api-version Azure got, the client's when it sent one", async () => {
    const { entry } = await logged(stack, "/openai?api-version=2024-10-21", CHAT);
    assert.equal(at(entry, "ai", "proxy", "meta", "azure_api_version"), "2024-10-21");
  });

  it("logs the prompt tokens of an embeddings call, and no completion tokens", async () => {
    await stack.restart(
      identityConfig(stack, { route_type: "llm/v1/embeddings", deployment: SIM_EMBEDDINGS_DEPLOYMENT, model_name: null }),
    );
    const { status, answer, entry } = await logged(stack, "/openai", { input: "three words here" });
    assert.equal(status, 200);
    const usage = at(JSON.parse(answer), "usage");
    assert.deepEqual(usage, { prompt_tokens: 3, total_tokens: 3 });
    assert.deepEqual(at(entry, "ai", "proxy", "usage"), usage);
    assert.equal(at(entry, "ai", "proxy", "meta", "request_model"), "UNSPECIFIED");
    assert.equal(at(entry, "ai", "proxy", "meta", "response_model"), "text-embedding-3-small");
    assert.equal(at(entry, "ai", "proxy", "meta", "azure_deployment_id"), SIM_EMBEDDINGS_DEPLOYMENT);
  });

  it("asks Azure for an uncompressed answer, which it can read", async () => {
    await logged(stack, "/openai", { input: "hello" });
    const last = stack.sim.control.journal({ endpoint: "openai" }).at(-1);
    assert.equal(last?.headers["accept-encoding"], undefined);
  });
});

describe("log_statistics on a streamed chat", () => {
  const stack = useStack((stack) => identityConfig(stack));

  it("does not ask for the usage chunk with an api-version that refuses stream_options, and logs no tokens", async () => {
    const { status, answer, entry } = await logged(stack, "/openai", { ...CHAT, stream: true });
    assert.equal(status, 200);
    assert.equal(sentBody(stack).stream_options, undefined);
    assert.ok(events(answer).length > 0);
    assert.equal(at(entry, "ai", "proxy", "meta", "response_model"), "gpt-35-turbo");
    assert.deepEqual(at(entry, "ai", "proxy", "usage"), {});
  });

  it("asks for the usage chunk, logs its tokens, and keeps it from a client that did not ask", async () => {
    const plain = await logged(stack, "/openai?api-version=2024-10-21", CHAT);
    const expected = at(JSON.parse(plain.answer), "usage");

    const { status, answer, entry } = await logged(stack, "/openai?api-version=2024-10-21", { ...CHAT, stream: true });
    assert.equal(status, 200);
    assert.deepEqual(sentBody(stack).stream_options, { include_usage: true });
    const chunks = events(answer);
    assert.ok(chunks.length >= 2);
    assert.ok(
      chunks.every((chunk) => Array.isArray(chunk.choices) && chunk.choices.length > 0),
      "the client got the usage chunk it did not ask for",
    );
    assert.match(answer, /data: \[DONE\]\n\n$/);

    const usage = at(entry, "ai", "proxy", "usage");
    assert.ok(isRecord(usage));
    assert.deepEqual({ ...usage, time_per_token: undefined }, { ...(isRecord(expected) ? expected : {}), time_per_token: undefined });
    assert.equal(typeof usage.time_per_token, "number");
  });

  it("passes the usage chunk to a client that asked for it, and logs its tokens", async () => {
    const body = { ...CHAT, stream: true, stream_options: { include_usage: true } };
    const { answer, entry } = await logged(stack, "/openai?api-version=2024-10-21", body);
    const usageChunk = events(answer).find((chunk) => isRecord(chunk.usage));
    assert.ok(usageChunk, "the client did not get the usage chunk it asked for");
    const logged_usage = at(entry, "ai", "proxy", "usage");
    assert.ok(isRecord(logged_usage));
    assert.equal(logged_usage.total_tokens, at(usageChunk, "usage", "total_tokens"));
  });

  it("asks the v1 API, which takes no api-version, for the usage chunk", async () => {
    await stack.restart(
      identityConfig(stack, {
        options: { azure_api_style: "v1", upstream_url: `${stack.simHttpUrl}/openai/v1/chat/completions` },
      }),
    );
    const { answer, entry } = await logged(stack, "/openai", { ...CHAT, stream: true });
    assert.deepEqual(sentBody(stack).stream_options, { include_usage: true });
    assert.ok(!events(answer).some((chunk) => isRecord(chunk.usage)), "the client got the usage chunk");
    assert.equal(typeof at(entry, "ai", "proxy", "usage", "total_tokens"), "number");
    assert.equal(at(entry, "ai", "proxy", "meta", "azure_api_version"), undefined);
  });

  it("leaves a preserve route's body as the client sent it", async () => {
    await stack.restart({
      ...identityConfig(stack, { route_type: "preserve", options: { upstream_url: stack.simHttpUrl } }),
      path: "/",
    });
    const raw = JSON.stringify({ ...CHAT, stream: true });
    const { answer, entry } = await logged(
      stack,
      `/openai/deployments/${SIM_DOCUMENTED_DEPLOYMENT}/chat/completions?api-version=2024-10-21`,
      raw,
    );
    assert.equal(stack.sim.control.journal({ endpoint: "openai" }).at(-1)?.body, raw);
    assert.ok(events(answer).length > 0);
    assert.equal(at(entry, "ai", "proxy", "meta", "response_model"), "gpt-35-turbo");
  });

  it("adds nothing to the log or the request with log_statistics off", async () => {
    await stack.restart(identityConfig(stack, { extra: {} }));
    const { entry } = await logged(stack, "/openai?api-version=2024-10-21", { ...CHAT, stream: true });
    assert.equal(sentBody(stack).stream_options, undefined);
    assert.equal(entry.ai, undefined);
    assert.equal(entry["ai-proxy-azure"], undefined);
    assert.equal(at(entry, "response", "status"), 200);
  });
});

describe("log_payloads", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, {
      auth: { header_name: "api-key", header_value: SIM_API_KEY },
      extra: { ...PAYLOADS, max_request_body_size: 200_000 },
    }),
    // Kong keeps bodies up to this size in memory, where plugins can read them.
    env: { KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE: "256k" },
  }));

  it("logs the request and response bodies whole up to 64 KiB", async () => {
    const body = JSON.stringify(CHAT);
    const { answer, entry } = await logged(stack, "/openai", body);
    assert.equal(at(entry, "ai", "proxy", "payload", "request"), body);
    assert.equal(at(entry, "ai", "proxy", "payload", "response"), answer);
    assert.equal(at(entry, "ai", "proxy", "meta"), undefined, "statistics are off");
  });

  it("cuts a body over 64 KiB and says how long it was", async () => {
    const body = JSON.stringify({ messages: [{ role: "user", content: "é".repeat(40_000) }] });
    const { status, entry } = await logged(stack, "/openai", body);
    assert.equal(status, 200);
    const request = text(at(entry, "ai", "proxy", "payload", "request"));
    const marker = CUT_MARKER.exec(request);
    assert.ok(marker, `no cut marker at the end of ${request.slice(-80)}`);
    assert.equal(Number(marker[1]), Buffer.byteLength(body));
    const kept = request.slice(0, marker.index);
    assert.ok(body.startsWith(kept));
    assert.ok(Buffer.byteLength(kept) <= 65536 && Buffer.byteLength(kept) >= 65535);
  });

  it("cuts an answer over 64 KiB", async () => {
    await stack.restart({
      plugin: pluginConfig(stack, {
        route_type: "llm/v1/embeddings",
        deployment: SIM_EMBEDDINGS_DEPLOYMENT,
        model_name: null,
        auth: { header_name: "api-key", header_value: SIM_API_KEY },
        extra: PAYLOADS,
      }),
    });
    const { status, answer, entry } = await logged(stack, "/openai", { input: "long", dimensions: 12_000 });
    assert.equal(status, 200);
    assert.ok(Buffer.byteLength(answer) > 65536);
    const response = text(at(entry, "ai", "proxy", "payload", "response"));
    const marker = CUT_MARKER.exec(response);
    assert.ok(marker, `no cut marker at the end of ${response.slice(-80)}`);
    assert.equal(Number(marker[1]), Buffer.byteLength(answer));
    assert.equal(response.slice(0, marker.index), answer.slice(0, 65536));
  });

  it("logs the streamed answer as the client got it", async () => {
    const { answer, entry } = await logged(stack, "/openai", { ...CHAT, stream: true });
    assert.equal(at(entry, "ai", "proxy", "payload", "response"), answer);
  });
});

describe("a request whose token fetch failed", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true, token_wait_timeout: 1 }, extra: BOTH }),
    env: simulatedAzure(stack),
  }));

  it("is logged with the failing identity and its error, and nothing about the model", async () => {
    stack.sim.control.addFault({ endpoint: "imds", status: 500, durationMs: 60_000 });
    const { status, answer, entry } = await logged(stack, "/openai", CHAT);
    assert.equal(status, 500);
    const message = text(at(JSON.parse(answer), "error", "message"));

    assert.equal(at(entry, "response", "status"), 500);
    assert.equal(at(entry, "upstream_status"), "");
    assert.equal(at(entry, "source"), "exit");
    assert.deepEqual(at(entry, "ai-proxy-azure", "identity"), {
      source: "managed identity (IMDS)",
      identity: "system-assigned",
      endpoint_host: new URL(stack.simHttpUrl).host,
      error: message.replace(/^failed to authenticate with Azure OpenAI: /, ""),
    });
    assert.equal(at(entry, "ai", "proxy", "meta"), undefined);
    assert.equal(at(entry, "ai", "proxy", "usage"), undefined);
    assert.equal(at(entry, "ai", "proxy", "payload", "request"), JSON.stringify(CHAT));
  });

  it("logs each failed fetch once, with the identity, the endpoint host, the time taken and the error code", async () => {
    const log = await stack.gateway.errorLog();
    const host = new URL(stack.simHttpUrl).host;
    const fetchLines = log
      .split("\n")
      .filter((line) => line.includes(`failed to get a token from managed identity (IMDS) for system-assigned at ${host} in `));
    assert.ok(fetchLines.length >= 1, log);
    const journaled = stack.sim.control.journal({ endpoint: "imds" }).length;
    assert.equal(fetchLines.length, journaled, "one line per token request");
    for (const line of fetchLines) {
      assert.match(line, /\[(warn|error)\]/);
      assert.match(line, / in \d+ ms \(error code: [\w]+\)/);
    }
  });

  it("logs a fetch that succeeds at info, with the token's remaining life", async () => {
    stack.sim.control.clearFaults();
    // Past the one-second fail-fast window that follows the failure.
    await sleep(1_100);
    const { status } = await logged(stack, "/openai", CHAT);
    assert.equal(status, 200);
    const host = new URL(stack.simHttpUrl).host;
    assert.match(
      await stack.gateway.errorLog(),
      new RegExp(`\\[info\\].*got a token from managed identity \\(IMDS\\) for system-assigned at ${host} in \\d+ ms, valid for \\d+ s`),
    );
  });
});

describe("a renewal that fails while the token is still valid", () => {
  const stack = useStack((stack) => {
    // Renewed at half its life, about 10 s after it is fetched; sent until 5 s before it
    // expires, which leaves about 3 s for the request that finds it past its refresh point.
    stack.sim.control.updateConfig({ tokenLifetimeSeconds: 20 });
    return identityConfig(stack);
  });

  it("is logged as a warning with the time left on the token requests go on with", async () => {
    assert.equal((await logged(stack, "/openai", CHAT)).status, 200);
    stack.sim.control.addFault({ endpoint: "imds", status: 503, durationMs: 30_000 });
    await sleep(10_000);
    assert.equal((await logged(stack, "/openai", CHAT)).status, 200);
    const host = new URL(stack.simHttpUrl).host;
    const expected = new RegExp(
      `\\[warn\\].*failed to renew the token of managed identity \\(IMDS\\) for system-assigned at ${host} ` +
        `in \\d+ ms \\(error code: \\w+\\): .*; requests go on with the current token, valid for \\d+ s more`,
    );
    const deadline = Date.now() + 3_000;
    while (!expected.test(await stack.gateway.errorLog()) && Date.now() < deadline) {
      await sleep(50);
    }
    assert.match(await stack.gateway.errorLog(), expected);
    stack.sim.control.clearFaults();
  });
});

describe("no token or secret in the serialized log or the error log", () => {
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-o11y-"));
  chmodSync(dir, 0o755);
  const tokenFile = join(dir, "azure-identity-token");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const assertions: string[] = [];

  const appRegistration = (stack: Stack) => ({
    plugin: pluginConfig(stack, {
      auth: {
        azure_use_managed_identity: true,
        azure_client_id: SIM_SECRET_APP.clientId,
        azure_client_secret: SIM_SECRET_APP.clientSecret,
        azure_tenant_id: SIM_TENANT_ID,
      },
      extra: BOTH,
    }),
    env: simulatedAzure(stack),
    logLevel: "debug" as const,
  });
  const stack = useStack(appRegistration);

  const entraFetches = (): number => stack.sim.control.journal({ endpoint: "entra" }).length;
  const fetchesLogged = async (): Promise<number> => (await stack.gateway.errorLog()).split("got a token from").length - 1;

  async function exercise(): Promise<void> {
    await logged(stack, "/openai", CHAT);
    await logged(stack, "/openai?api-version=2024-10-21", { ...CHAT, stream: true });
    // A token Azure refuses is dropped and its replacement fetched in the background, so the
    // logs also hold a renewal's lines. Wait for them: the next request may land on a worker
    // that still holds the refused token and finish before the renewal does.
    const before = await fetchesLogged();
    stack.sim.control.addFault({ endpoint: "openai", status: 401, count: 1 });
    await logged(stack, "/openai", CHAT);
    await waitFor(async () => (await fetchesLogged()) > before, "the refused token's replacement", 5_000);
    await logged(stack, "/openai", CHAT);
  }

  async function assertNoSecrets(secrets: string[]): Promise<void> {
    const issued = stack.sim.control
      .journal({ endpoint: "openai" })
      .map((entry) => /^Bearer (.+)$/.exec(entry.headers.authorization ?? "")?.[1])
      .filter((token): token is string => token !== undefined);
    const sink = JSON.stringify(await stack.gateway.serializedLogs());
    const errorLog = await stack.gateway.errorLog();
    for (const secret of [...issued, ...secrets]) {
      // JWTs hold no character JSON escapes, so the encoded log would show them as they are.
      assert.ok(!sink.includes(secret), `the serialized log holds ${secret.slice(0, 12)}...`);
      assert.ok(!errorLog.includes(secret), `the error log holds ${secret.slice(0, 12)}...`);
    }
  }

  it("with an app registration's client secret", async () => {
    await exercise();
    assert.ok(entraFetches() >= 2);
    await assertNoSecrets([SIM_SECRET_APP.clientSecret!]);
  });

  it("with a workload identity's federated assertion", async () => {
    const assertion = stack.sim.control.federatedToken({ clientId: SIM_WORKLOAD_APP.clientId, tenantId: SIM_TENANT_ID }).token;
    assertions.push(assertion);
    writeFileSync(tokenFile, `${assertion}\n`, { mode: 0o644 });
    await stack.restart({
      plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true }, extra: BOTH }),
      env: {
        ...simulatedAzure(stack),
        AZURE_CLIENT_ID: SIM_WORKLOAD_APP.clientId,
        AZURE_TENANT_ID: SIM_TENANT_ID,
        AZURE_FEDERATED_TOKEN_FILE: stack.target.pathFor(tokenFile),
      },
      files: { [tokenFile]: stack.target.pathFor(tokenFile) },
      logLevel: "debug",
    });
    await exercise();
    await assertNoSecrets(assertions);
  });

  it("with a static key the plugin adds, in a header or in the query", async () => {
    for (const auth of [
      { header_name: "api-key", header_value: SIM_API_KEY },
      { param_name: "api-key", param_value: SIM_API_KEY, param_location: "query" },
    ]) {
      await stack.restart({ plugin: pluginConfig(stack, { auth, extra: BOTH }), logLevel: "debug" });
      const { status, entry } = await logged(stack, "/openai", CHAT);
      assert.notEqual(status, 500);
      const where = auth.param_location === "query" ? ["request", "querystring", "api-key"] : ["request", "headers", "api-key"];
      assert.equal(at(entry, ...where), "REDACTED");
      await assertNoSecrets([SIM_API_KEY]);
    }
  });

  it("hides the client's own Authorization header as Kong does", async () => {
    await stack.restart(appRegistration(stack));
    const before = (await scenarioEntries(stack)).length;
    await (await stack.post("/openai", CHAT, { authorization: "Bearer client-own-token" })).text();
    const entry = await nextEntry(stack, before);
    assert.equal(at(entry, "request", "headers", "authorization"), "REDACTED");
  });
});

describe("the serialized log", () => {
  const stack = useStack((stack) => ({
    plugin: pluginConfig(stack, { auth: { header_name: "api-key", header_value: SIM_API_KEY }, deployment: SIM_DOCUMENTED_DEPLOYMENT }),
  }));

  it("has the fields of Kong's basic serializer", async () => {
    const { entry } = await logged(stack, "/openai?x=1", CHAT);
    assert.equal(at(entry, "request", "method"), "POST");
    assert.equal(at(entry, "request", "uri"), "/openai?x=1");
    assert.equal(at(entry, "request", "url"), `${stack.gateway.url}/openai?x=1`);
    assert.equal(at(entry, "request", "querystring", "x"), "1");
    assert.equal(typeof at(entry, "request", "size"), "number");
    assert.equal(at(entry, "response", "status"), 200);
    assert.equal(typeof at(entry, "response", "size"), "number");
    assert.match(text(at(entry, "response", "headers", "content-type")), /application\/json/);
    for (const name of ["request", "kong", "proxy", "receive"]) {
      assert.equal(typeof at(entry, "latencies", name), "number", `latencies.${name}`);
    }
    assert.equal(at(entry, "route", "name"), "openai");
    assert.equal(at(entry, "service", "name"), "azure-openai");
    assert.equal(at(entry, "client_ip"), "127.0.0.1");
    assert.equal(at(entry, "source"), "service");
    assert.equal(at(entry, "upstream_status"), "200");
    const startedAt = at(entry, "started_at");
    assert.ok(typeof startedAt === "number" && Math.abs(Date.now() - startedAt) < 60_000);
    assert.equal(entry.ai, undefined, "the plugin adds nothing with logging off");
  });
});
