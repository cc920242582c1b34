// Plain HTTP(S) calls for the simulator's tests: no connection reuse, so that a
// dropped connection or a fault never leaks into the next request.

import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

import { isRecord } from "../support/simulator/http-util.ts";

export { isRecord };


export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM file of the CA to trust, for https URLs. */
  caPath?: string;
}


/** Sends one request and resolves with the response as soon as its head arrives. */
export function open(url: string, options: CallOptions = {}): Promise<IncomingMessage> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(
      target,
      {
        method: options.method ?? "GET",
        headers: options.headers,
        agent: false,
        ca: options.caPath === undefined ? undefined : readFileSync(options.caPath),
      },
      resolve,
    );
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}


export function readAll(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    response.on("error", reject);
  });
}


export async function call(url: string, options: CallOptions = {}): Promise<Answer> {
  const response = await open(url, options);
  const body = await readAll(response);
  return { status: response.statusCode ?? 0, headers: response.headers, body };
}


/** The answer's body as a JSON object; fails the test when it is anything else. */
export function jsonOf(answer: Answer): Record<string, unknown> {
  const value: unknown = JSON.parse(answer.body);
  assert.ok(isRecord(value), `expected a JSON object, got ${answer.body}`);
  return value;
}


/** The claims of a JWT, read without checking the signature. */
export function claimsOf(token: unknown): Record<string, unknown> {
  assert.equal(typeof token, "string");
  const payload = String(token).split(".")[1] ?? "";
  const value: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  assert.ok(isRecord(value));
  return value;
}


export function form(fields: Record<string, string>): CallOptions {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  };
}


let forgerKey: KeyObject | undefined;


/**
 * The same token with `changes` applied to its claims, re-signed by a key the
 * simulator does not know but under the header (and `kid`) of the original.
 */
export function forge(token: string, changes: Record<string, unknown> = {}): string {
  const [header] = token.split(".");
  const claims = { ...claimsOf(token), ...changes };
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  forgerKey ??= generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), forgerKey);
  return `${header}.${payload}.${signature.toString("base64url")}`;
}
