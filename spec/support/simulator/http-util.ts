// Small HTTP helpers shared by the endpoints and the control API.

import type { IncomingHttpHeaders, IncomingMessage } from "node:http";

import type { AuthRecord } from "./types.ts";


/** A request as endpoints see it: body already read, query and headers flattened. */
export interface SimRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** All values of each query parameter, for checks that care about repeats. */
  params: URLSearchParams;
  headers: Record<string, string>;
  body: string;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** Whole body; ignored when `stream` is set. */
  body?: string;
  /** Pieces written one after another, as a streamed body. */
  stream?: AsyncIterable<string>;
  /** Recorded in the journal (Azure OpenAI requests). */
  auth?: AuthRecord;
}


const MAX_BODY_BYTES = 4 * 1024 * 1024;


export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}


export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    const value: unknown = JSON.parse(text);
    return { ok: true, value };
  } catch {
    return { ok: false };
  }
}


export function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.destroy();
        reject(new Error("request body too large"));
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}


export function firstValues(params: URLSearchParams): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of params) {
    if (!(name in result)) {
      result[name] = value;
    }
  }
  return result;
}


export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) {
      result[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
    }
  }
  return result;
}


export function jsonResponse(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): SimResponse {
  return {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: JSON.stringify(value),
  };
}


/** Resolves after `ms`, or rejects as soon as `signal` aborts (the simulator stops). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error("simulator stopped"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error("simulator stopped"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}


export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
