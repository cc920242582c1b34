// Entra's signing keys, so that a caller can check the tokens the simulator issues.

import { statusWord, type EndpointDefinition } from "../endpoint.ts";
import { jsonResponse } from "../http-util.ts";
import { publicJwk } from "../jwt.ts";
import { entraError, knownTenant, unknownTenant } from "./entra.ts";


const KEYS_PATH = /^\/([^/]+)\/discovery\/(?:v2\.0\/)?keys\/?$/;

const SHARED_TENANTS = new Set(["common", "organizations"]);


export const jwksEndpoint: EndpointDefinition = {
  name: "jwks",
  ports: ["http", "https"],
  matches: (path) => KEYS_PATH.test(path),
  errorResponse: (status, message) => entraError(status, statusWord(status), 90033, message),
  malformedBody: '{"keys":[{"kty":"RSA","use":"sig","kid":"',

  handle(request, context) {
    const tenant = KEYS_PATH.exec(request.path)?.[1] ?? "";
    if (!SHARED_TENANTS.has(tenant.toLowerCase()) && !knownTenant(context.config, tenant)) {
      return unknownTenant(tenant);
    }
    return jsonResponse(200, { keys: [publicJwk(context.tokens.entraKey)] });
  },
};
