// Microsoft Entra v2 token endpoint, client credentials grant: client secret or a
// federated assertion from the simulated cluster (AKS workload identity).

import { randomUUID } from "node:crypto";

import { JWT_BEARER_ASSERTION_TYPE } from "../constants.ts";
import { statusWord, type EndpointDefinition } from "../endpoint.ts";
import { jsonResponse, type SimResponse } from "../http-util.ts";
import type { AppRegistration, SimulatorConfig } from "../types.ts";


const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token\/?$/;

const DEFAULT_SCOPE_SUFFIX = "/.default";

/** Codes the simulator answers when a fault or an unknown case gives no better one. */
const GENERIC_CODES: Record<number, number> = { 429: 50196, 500: 90033, 503: 90033 };


function entraTimestamp(date: Date): string {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}


/** An error in Entra's shape; the description starts with the AADSTS code, as Entra's do. */
export function entraError(status: number, error: string, code: number, message: string): SimResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = entraTimestamp(new Date());
  return jsonResponse(status, {
    error,
    error_description:
      `AADSTS${code}: ${message} Trace ID: ${traceId} Correlation ID: ${correlationId}` +
      ` Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
  });
}


export function knownTenant(config: SimulatorConfig, tenant: string): boolean {
  const wanted = tenant.toLowerCase();
  return (
    config.tenants.some((known) => known.toLowerCase() === wanted) ||
    config.apps.some((app) => app.tenantId.toLowerCase() === wanted)
  );
}


export function unknownTenant(tenant: string): SimResponse {
  return entraError(400, "invalid_request", 90002, `Tenant '${tenant}' not found.`);
}


function missingParameter(name: string): SimResponse {
  return entraError(400, "invalid_request", 900144, `The request body must contain the parameter '${name}'.`);
}


function findApp(config: SimulatorConfig, tenant: string, clientId: string): AppRegistration | undefined {
  return config.apps.find(
    (app) =>
      app.tenantId.toLowerCase() === tenant.toLowerCase() &&
      app.clientId.toLowerCase() === clientId.toLowerCase(),
  );
}


export const entraEndpoint: EndpointDefinition = {
  name: "entra",
  ports: ["https"],
  matches: (path) => TOKEN_PATH.test(path),
  errorResponse: (status, message) =>
    entraError(status, statusWord(status), GENERIC_CODES[status] ?? 90033, message),
  malformedBody: '{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eX',

  handle(request, context) {
    const tenant = TOKEN_PATH.exec(request.path)?.[1] ?? "";
    if (request.method !== "POST") {
      return entraError(400, "invalid_request", 900561, "The endpoint only accepts POST requests.");
    }
    if (!knownTenant(context.config, tenant)) {
      return unknownTenant(tenant);
    }
    const contentType = (request.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    const form = new URLSearchParams(
      contentType === "application/x-www-form-urlencoded" ? request.body : "",
    );
    const grantType = form.get("grant_type");
    if (grantType === null) {
      return missingParameter("grant_type");
    }
    if (grantType !== "client_credentials") {
      return entraError(400, "unsupported_grant_type", 70003, `The grant type '${grantType}' is not supported here.`);
    }
    const clientId = form.get("client_id");
    if (clientId === null) {
      return missingParameter("client_id");
    }
    const scope = form.get("scope");
    if (scope === null) {
      return missingParameter("scope");
    }
    if (!scope.endsWith(DEFAULT_SCOPE_SUFFIX) || scope.includes(" ")) {
      return entraError(
        400,
        "invalid_scope",
        1002012,
        `The scope '${scope}' is not valid: client credentials take one resource's '/.default' scope.`,
      );
    }
    const app = findApp(context.config, tenant, clientId);
    if (app === undefined) {
      return entraError(
        400,
        "unauthorized_client",
        700016,
        `Application '${clientId}' was not found in the directory '${tenant}'.`,
      );
    }

    const secret = form.get("client_secret");
    const assertion = form.get("client_assertion");
    let appidacr: string;
    if (secret !== null && assertion !== null) {
      return entraError(400, "invalid_request", 90014, "Give either client_secret or client_assertion, not both.");
    } else if (secret !== null) {
      if (app.clientSecret === undefined || secret !== app.clientSecret) {
        return entraError(401, "invalid_client", 7000215, "Invalid client secret provided.");
      }
      appidacr = "1";
    } else if (assertion !== null) {
      const assertionType = form.get("client_assertion_type");
      if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
        return entraError(
          400,
          "invalid_request",
          90014,
          `client_assertion_type must be '${JWT_BEARER_ASSERTION_TYPE}'.`,
        );
      }
      const refusal = context.tokens.checkAssertion(assertion, app);
      if (refusal !== undefined) {
        return entraError(refusal.status, "invalid_client", refusal.code, refusal.description);
      }
      appidacr = "2";
    } else {
      return entraError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain 'client_assertion' or 'client_secret'.",
      );
    }

    const issued = context.issueAccessToken({
      tenantId: app.tenantId,
      audience: scope.slice(0, -DEFAULT_SCOPE_SUFFIX.length),
      oid: app.objectId,
      appid: app.clientId,
      appidacr,
    });
    const body: Record<string, string | number> = {
      token_type: "Bearer",
      expires_in: issued.expiresIn,
      ext_expires_in: issued.expiresIn,
      access_token: issued.token,
    };
    if (context.config.refreshInSeconds !== null) {
      body.refresh_in = context.config.refreshInSeconds;
    }
    return jsonResponse(200, body);
  },
};
