// The official `openai` npm client, pointed at the gateway instead of OpenAI:
// plain and streamed chat completions work unchanged, and the client's own
// API key never reaches Azure (the plugin signs every request itself).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import OpenAI from "openai";

import {
  SIM_API_KEY,
  SIM_SYSTEM_IDENTITY,
  type AuthRecord,
  type JournalEntry,
} from "../support/simulator/index.ts";
import { pluginConfig } from "./support/config.ts";
import { useStack, type Stack, type StackOptions } from "./support/stack.ts";


// What the client sends as its bearer token; the gateway must drop it.
const CLIENT_API_KEY = "unused-by-the-gateway";

const MESSAGES: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: "user", content: "Say hello from Kong." },
];


interface ClientCase {
  title: string;
  stackOptions(stack: Stack): StackOptions;
  /** What the Azure OpenAI data plane saw of the credential the plugin sent. */
  expectedAuth: AuthRecord;
}


const CASES: ClientCase[] = [
  {
    title: "an api-key",
    stackOptions: (stack) => ({
      plugin: pluginConfig(stack, { auth: { header_name: "api-key", header_value: SIM_API_KEY } }),
    }),
    expectedAuth: { kind: "api-key", accepted: true },
  },
  {
    title: "the system-assigned managed identity",
    stackOptions: (stack) => ({
      plugin: pluginConfig(stack, { auth: { azure_use_managed_identity: true } }),
      env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.simHttpUrl },
    }),
    expectedAuth: {
      kind: "bearer",
      accepted: true,
      oid: SIM_SYSTEM_IDENTITY.objectId,
      appid: SIM_SYSTEM_IDENTITY.clientId,
    },
  },
];


function client(stack: Stack): OpenAI {
  // No retries: a failure shows as the first answer, not as a slow test.
  return new OpenAI({
    baseURL: `${stack.gateway.url}/openai`,
    apiKey: CLIENT_API_KEY,
    maxRetries: 0,
  });
}


function onlyAzureRequest(stack: Stack): JournalEntry {
  const requests = stack.sim.control.journal({ endpoint: "openai" });
  assert.equal(requests.length, 1, `Azure OpenAI got ${requests.length} requests, expected one`);
  const [request] = requests;
  assert.ok(request);
  return request;
}


function assertSignedByThePlugin(request: JournalEntry, expectedAuth: AuthRecord): void {
  assert.deepEqual(request.auth, expectedAuth);
  for (const header of ["authorization", "api-key"]) {
    const credential = request.headers[header] ?? "";
    assert.ok(!credential.includes(CLIENT_API_KEY), `the client's key reached Azure in ${header}`);
  }
}


function describeClient(clientCase: ClientCase): void {
  describe(`the openai client through the gateway, signed with ${clientCase.title}`, () => {
    const stack = useStack((stack) => clientCase.stackOptions(stack));

    it("completes a chat", async () => {
      const completion = await client(stack).chat.completions.create({
        model: "gpt-35-turbo",
        messages: MESSAGES,
      });

      assert.equal(completion.object, "chat.completion");
      assert.equal(completion.choices.length, 1);
      const text = completion.choices[0]?.message.content ?? "";
      assert.ok(text.length > 0, "the completion has no text");
    });

    it("streams a chat in several chunks", async () => {
      const stream = await client(stack).chat.completions.create({
        model: "gpt-35-turbo",
        messages: MESSAGES,
        stream: true,
      });

      const pieces: string[] = [];
      for await (const chunk of stream) {
        assert.equal(chunk.object, "chat.completion.chunk");
        const piece = chunk.choices[0]?.delta.content;
        if (piece !== undefined && piece !== null && piece !== "") {
          pieces.push(piece);
        }
      }

      assert.ok(pieces.length > 1, `the content came in ${pieces.length} chunk(s)`);
      assert.ok(pieces.join("").trim().length > 0, "the streamed text is empty");
    });

    it("sends Azure the plugin's credential, not the client's key", async () => {
      stack.sim.control.clearJournal();
      await client(stack).chat.completions.create({ model: "gpt-35-turbo", messages: MESSAGES });

      assertSignedByThePlugin(onlyAzureRequest(stack), clientCase.expectedAuth);
    });

    it("sends Azure the plugin's credential when streaming too", async () => {
      stack.sim.control.clearJournal();
      const stream = await client(stack).chat.completions.create({
        model: "gpt-35-turbo",
        messages: MESSAGES,
        stream: true,
      });
      for await (const chunk of stream) {
        assert.ok(chunk.id);
      }

      assertSignedByThePlugin(onlyAzureRequest(stack), clientCase.expectedAuth);
    });
  });
}


for (const clientCase of CASES) {
  describeClient(clientCase);
}
