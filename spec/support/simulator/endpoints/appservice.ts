// App Service, Functions and Container Apps identity endpoint (api-version 2019-08-01).

import type { EndpointDefinition } from "../endpoint.ts";
import { jsonResponse } from "../http-util.ts";
import {
  appServiceError,
  chooseIdentity,
  issueIdentityToken,
  TRUNCATED_TOKEN_BODY,
  type SelectorParams,
} from "./managed-identity.ts";


const API_VERSION = "2019-08-01";

const SELECTORS: SelectorParams = {
  client_id: "clientId",
  mi_res_id: "resourceId",
  object_id: "objectId",
  principal_id: "objectId",
};


export const appServiceEndpoint: EndpointDefinition = {
  name: "appservice",
  ports: ["http"],
  matches: (path) => path === "/msi/token" || path === "/msi/token/",
  errorResponse: appServiceError,
  malformedBody: TRUNCATED_TOKEN_BODY,

  handle(request, context) {
    if (request.method !== "GET") {
      return appServiceError(405, "Only GET is supported on this route.");
    }
    const secret = request.headers["x-identity-header"];
    if (secret === undefined) {
      return appServiceError(401, "The X-IDENTITY-HEADER header is required.");
    }
    if (secret !== context.config.identityHeader) {
      return appServiceError(401, "The X-IDENTITY-HEADER header does not match.");
    }
    const apiVersion = request.query["api-version"];
    if (apiVersion !== API_VERSION) {
      return appServiceError(400, `api-version must be ${API_VERSION}.`);
    }
    const resource = request.query.resource;
    if (resource === undefined || resource === "") {
      return appServiceError(400, "The resource parameter is required.");
    }
    const choice = chooseIdentity(request, SELECTORS, context.config.identities);
    if (!choice.ok) {
      return choice.problem === "not found"
        ? appServiceError(404, "No managed identity of this site matches the request.")
        : appServiceError(400, "Give at most one of client_id, mi_res_id, object_id and principal_id.");
    }
    const issued = issueIdentityToken(context, choice.identity, resource);
    return jsonResponse(200, {
      access_token: issued.token,
      expires_on: String(issued.expiresOn),
      resource,
      token_type: "Bearer",
      client_id: choice.identity.clientId,
    });
  },
};
