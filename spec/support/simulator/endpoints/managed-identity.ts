// Pieces shared by the managed identity endpoints (IMDS, App Service, Arc, Cloud
// Shell, Machine Learning): choosing the identity, issuing its token, and the two
// error shapes these services use.

import { randomUUID } from "node:crypto";

import { jsonResponse, type SimRequest, type SimResponse } from "../http-util.ts";
import type { EndpointContext } from "../endpoint.ts";
import type { IssuedAccessToken } from "../tokens.ts";
import type { ManagedIdentity } from "../types.ts";


export type IdentityField = "clientId" | "objectId" | "resourceId";

/** Maps each query parameter an endpoint accepts to the identity field it names. */
export type SelectorParams = Record<string, IdentityField>;

export type IdentityChoice =
  | { ok: true; identity: ManagedIdentity }
  | { ok: false; problem: "several selectors" | "not found" };


export const TRUNCATED_TOKEN_BODY = '{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1';


/**
 * The system-assigned identity when no selector is given, else the identity the one
 * selector names. GUIDs and ARM resource ids compare without regard to case.
 */
export function chooseIdentity(
  request: SimRequest,
  selectors: SelectorParams,
  identities: readonly ManagedIdentity[],
): IdentityChoice {
  const given = Object.entries(selectors).filter(([param]) => request.params.has(param));
  if (given.length > 1 || given.some(([param]) => request.params.getAll(param).length > 1)) {
    return { ok: false, problem: "several selectors" };
  }
  let identity: ManagedIdentity | undefined;
  if (given.length === 0) {
    identity = identities.find((candidate) => candidate.kind === "system");
  } else {
    const [param, field] = given[0];
    const wanted = (request.params.get(param) ?? "").toLowerCase();
    identity = identities.find(
      (candidate) => candidate.kind === "user" && candidate[field].toLowerCase() === wanted,
    );
  }
  return identity === undefined ? { ok: false, problem: "not found" } : { ok: true, identity };
}


export function issueIdentityToken(
  context: EndpointContext,
  identity: ManagedIdentity,
  resource: string,
): IssuedAccessToken {
  return context.issueAccessToken({
    tenantId: context.config.tenantId,
    audience: resource,
    oid: identity.objectId,
    appid: identity.clientId,
    mirid: identity.resourceId,
  });
}


/** IMDS's success body: every value a string, `expires_on` in epoch seconds. */
export function imdsTokenBody(
  issued: IssuedAccessToken,
  resource: string,
  identity: ManagedIdentity,
): Record<string, string> {
  return {
    access_token: issued.token,
    refresh_token: "",
    expires_in: String(issued.expiresIn),
    expires_on: String(issued.expiresOn),
    not_before: String(issued.notBefore),
    resource,
    token_type: "Bearer",
    client_id: identity.clientId,
  };
}


/** IMDS-style error: `{"error","error_description"}`. */
export function oauthError(status: number, error: string, description: string): SimResponse {
  return jsonResponse(status, { error, error_description: description });
}


/** App Service-style error: `{"statusCode","message","correlationId"}`. */
export function appServiceError(status: number, message: string): SimResponse {
  return jsonResponse(status, { statusCode: status, message, correlationId: randomUUID() });
}


export function isMetadataRequest(request: SimRequest): boolean {
  return (request.headers["metadata"] ?? "").toLowerCase() === "true";
}
