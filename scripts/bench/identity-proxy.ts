// The usual do-it-yourself alternative to the plugin, for the benchmark's
// stampede: a Node HTTP server that asks @azure/identity's
// ManagedIdentityCredential for a token on every request and forwards the
// request with it. Run as a child process:
//
//   AZURE_POD_IDENTITY_AUTHORITY_HOST=<IMDS base URL> BENCH_UPSTREAM_URL=<chat completions URL> \
//     node --import tsx scripts/bench/identity-proxy.ts
//
// It prints {"url": ...} once it listens on 127.0.0.1, and stops on SIGTERM.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { ManagedIdentityCredential } from "@azure/identity";

const SCOPE = "https://cognitiveservices.azure.com/.default";


function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set`);
  }
  return value;
}


const upstream = required("BENCH_UPSTREAM_URL");
required("AZURE_POD_IDENTITY_AUTHORITY_HOST");
const credential = new ManagedIdentityCredential();


async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}


function answerJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(value));
}


async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request);
  let token: string;
  try {
    token = (await credential.getToken(SCOPE)).token;
  } catch {
    answerJson(response, 500, { error: { message: "failed to get a token from the managed identity" } });
    return;
  }
  const answer = await fetch(upstream, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body.toString("utf8"),
  });
  const content = Buffer.from(await answer.arrayBuffer());
  response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
  response.end(content);
}


const server = createServer((request, response) => {
  forward(request, response).catch(() => {
    if (!response.headersSent) {
      answerJson(response, 502, { error: { message: "failed to reach the upstream" } });
    } else {
      response.destroy();
    }
  });
});

server.listen(0, "127.0.0.1", () => {
  const address: AddressInfo | string | null = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("failed to read the port the identity proxy listens on");
  }
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}` })}\n`);
});

process.once("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
