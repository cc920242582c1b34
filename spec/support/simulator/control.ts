// The control API under /_sim/ on the HTTP port: the in-process operations of
// SimulatorControl, over JSON. Its own requests are never journaled.

import type { IncomingMessage, ServerResponse } from "node:http";

import { jsonResponse, parseJson, readBody, type SimResponse } from "./http-util.ts";
import type { SimulatorControl } from "./types.ts";
import {
  decodeAccessTokenRequest,
  decodeConfigPatch,
  decodeFaultSpec,
  decodeFederatedTokenRequest,
  isEndpointName,
  type Decoded,
} from "./wire.ts";


export const CONTROL_PREFIX = "/_sim/";

const NO_CONTENT: SimResponse = { status: 204 };


function badRequest(message: string): SimResponse {
  return jsonResponse(400, { error: message });
}


/** Runs an operation that throws RangeError on bad input, answering 400 for it. */
function attempt(operation: () => SimResponse): SimResponse {
  try {
    return operation();
  } catch (error) {
    if (error instanceof RangeError) {
      return badRequest(error.message);
    }
    throw error;
  }
}


function withBody<T>(
  body: string,
  decode: (value: unknown) => Decoded<T>,
  use: (value: T) => SimResponse,
): SimResponse {
  const parsed = parseJson(body === "" ? "{}" : body);
  if (!parsed.ok) {
    return badRequest("body is not JSON");
  }
  const decoded = decode(parsed.value);
  return decoded.ok ? attempt(() => use(decoded.value)) : badRequest(decoded.error);
}


function route(
  control: SimulatorControl,
  method: string,
  path: string,
  params: URLSearchParams,
  body: string,
): SimResponse {
  const operation = `${method} ${path.slice(CONTROL_PREFIX.length)}`;
  switch (operation) {
    case "GET journal": {
      const endpoint = params.get("endpoint");
      if (endpoint === null) {
        return jsonResponse(200, { entries: control.journal() });
      }
      if (!isEndpointName(endpoint)) {
        return badRequest(`unknown endpoint '${endpoint}'`);
      }
      return jsonResponse(200, { entries: control.journal({ endpoint }) });
    }
    case "DELETE journal":
      control.clearJournal();
      return NO_CONTENT;
    case "GET counters":
      return jsonResponse(200, control.counters());
    case "GET faults":
      return jsonResponse(200, { faults: control.faults() });
    case "POST faults":
      return withBody(body, decodeFaultSpec, (spec) => jsonResponse(201, control.addFault(spec)));
    case "DELETE faults":
      control.clearFaults();
      return NO_CONTENT;
    case "GET config":
      return jsonResponse(200, control.config());
    case "POST config":
      return withBody(body, decodeConfigPatch, (patch) => jsonResponse(200, control.updateConfig(patch)));
    case "POST federated-token":
      return withBody(body, decodeFederatedTokenRequest, (request) =>
        jsonResponse(200, control.federatedToken(request)),
      );
    case "POST access-token":
      return withBody(body, decodeAccessTokenRequest, (request) =>
        jsonResponse(200, control.accessToken(request)),
      );
    case "POST reset":
      control.reset();
      return NO_CONTENT;
    default:
      return jsonResponse(404, { error: `no control operation ${operation}` });
  }
}


export async function serveControl(
  control: SimulatorControl,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://simulator.invalid");
  const body = await readBody(request);
  const answer = route(control, request.method ?? "GET", url.pathname, url.searchParams, body);
  response.writeHead(answer.status, answer.headers);
  response.end(answer.body ?? "");
}
