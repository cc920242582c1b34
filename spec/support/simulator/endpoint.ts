// What every simulated endpoint provides to the server. Adding an identity endpoint
// means writing one object of this shape and listing it in registry.ts: the server
// then routes, journals, counts and injects faults for it without further changes.

import type { SimRequest, SimResponse } from "./http-util.ts";
import type { AccessTokenClaims, IssuedAccessToken, TokenService } from "./tokens.ts";
import type { EndpointName, PortKind, SimulatorConfig } from "./types.ts";


export interface EndpointContext {
  readonly config: SimulatorConfig;
  readonly tokens: TokenService;
  /** Issues an access token and counts it against the endpoint handling the request. */
  issueAccessToken(claims: AccessTokenClaims): IssuedAccessToken;
  /** The simulator's temporary directory (for files such as Azure Arc's key). */
  readonly tempDir: string;
  /** Aborts when the simulator stops; waits inside handlers must honour it. */
  readonly signal: AbortSignal;
  readonly port: PortKind;
}

export interface EndpointDefinition {
  readonly name: EndpointName;
  readonly ports: readonly PortKind[];
  matches(path: string): boolean;
  handle(request: SimRequest, context: EndpointContext): SimResponse | Promise<SimResponse>;
  /** An error answer shaped like this endpoint's own, used for status faults. */
  errorResponse(status: number, message: string): SimResponse;
  /** A 200 body that breaks off in the middle of the JSON, for malformed faults. */
  readonly malformedBody: string;
  /** Forgets state kept between requests (called on reset). */
  reset?(): void;
}


/** A short machine-readable word for a status, where an endpoint wants one. */
export function statusWord(status: number): string {
  const words: Record<number, string> = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    410: "gone",
    429: "too_many_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
  };
  return words[status] ?? `http_${status}`;
}
