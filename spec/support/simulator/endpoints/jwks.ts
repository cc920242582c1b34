// Entra's discovery documents for a tenant: its signing keys, so that a caller
// can check the tokens the simulator issues, and its OpenID configuration,
// which MSAL (inside @azure/identity) reads before its first token request to
// an authority it does not know.

import { statusWord, type EndpointDefinition } from "../endpoint.ts";
import { jsonResponse } from "../http-util.ts";
import { publicJwk } from "../jwt.ts";
import { entraError, knownTenant, unknownTenant } from "./entra.ts";


const KEYS_PATH = /^\/([^/]+)\/discovery\/(?:v2\.0\/)?keys\/?$/;

const OPENID_CONFIGURATION_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration\/?$/;

const SHARED_TENANTS = new Set(["common", "organizations"]);


/**
 * The tenant's OpenID configuration, its endpoints on the host the caller
 * asked (the HTTPS port, as the caller reached it).
 */
function openIdConfiguration(host: string, tenant: string): Record<string, unknown> {
  const tenantUrl = `https://${host}/${tenant}`;
  return {
    issuer: `${tenantUrl}/v2.0`,
    authorization_endpoint: `${tenantUrl}/oauth2/v2.0/authorize`,
    token_endpoint: `${tenantUrl}/oauth2/v2.0/token`,
    jwks_uri: `${tenantUrl}/discovery/v2.0/keys`,
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    tenant_region_scope: null,
    cloud_instance_name: host,
  };
}


export const jwksEndpoint: EndpointDefinition = {
  name: "jwks",
  ports: ["http", "https"],
  matches: (path) => KEYS_PATH.test(path) || OPENID_CONFIGURATION_PATH.test(path),
  errorResponse: (status, message) => entraError(status, statusWord(status), 90033, message),
  malformedBody: '{"keys":[{"kty":"RSA","use":"sig","kid":"',

  handle(request, context) {
    const configuration = OPENID_CONFIGURATION_PATH.exec(request.path);
    const tenant = configuration?.[1] ?? KEYS_PATH.exec(request.path)?.[1] ?? "";
    if (!SHARED_TENANTS.has(tenant.toLowerCase()) && !knownTenant(context.config, tenant)) {
      return unknownTenant(tenant);
    }
    if (configuration === null) {
      return jsonResponse(200, { keys: [publicJwk(context.tokens.entraKey)] });
    }
    // Entra is HTTPS only: a document served over plain HTTP would name endpoints that are not there.
    const host = request.headers.host;
    if (context.port !== "https" || host === undefined) {
      return entraError(404, "not_found", 90033, "The OpenID configuration is served over HTTPS only.");
    }
    return jsonResponse(200, openIdConfiguration(host, tenant));
  },
};
