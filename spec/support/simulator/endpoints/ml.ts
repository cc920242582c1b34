// Azure Machine Learning's identity endpoint, the legacy App Service protocol
// (api-version 2017-09-01, `secret` header, `clientid=`), whose `expires_on` is a
// date string rather than epoch seconds.

import type { EndpointDefinition } from "../endpoint.ts";
import { jsonResponse } from "../http-util.ts";
import {
  appServiceError,
  chooseIdentity,
  issueIdentityToken,
  TRUNCATED_TOKEN_BODY,
  type SelectorParams,
} from "./managed-identity.ts";


const API_VERSION = "2017-09-01";

const SELECTORS: SelectorParams = { clientid: "clientId" };


function twoDigits(value: number): string {
  return String(value).padStart(2, "0");
}


/** `MM/DD/YYYY HH:MM:SS +00:00`, in UTC, as the Linux hosts write it. */
export function legacyExpiresOn(epochSeconds: number): string {
  const date = new Date(epochSeconds * 1000);
  const day = `${twoDigits(date.getUTCMonth() + 1)}/${twoDigits(date.getUTCDate())}/${date.getUTCFullYear()}`;
  const time = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map(twoDigits).join(":");
  return `${day} ${time} +00:00`;
}


export const mlEndpoint: EndpointDefinition = {
  name: "ml",
  ports: ["http"],
  matches: (path) => path === "/ml/msi/token" || path === "/ml/msi/token/",
  errorResponse: appServiceError,
  malformedBody: TRUNCATED_TOKEN_BODY,

  handle(request, context) {
    if (request.method !== "GET") {
      return appServiceError(405, "Only GET is supported on this route.");
    }
    const secret = request.headers["secret"];
    if (secret === undefined || secret !== context.config.mlSecret) {
      return appServiceError(401, "The secret header is missing or does not match.");
    }
    if (request.query["api-version"] !== API_VERSION) {
      return appServiceError(400, `api-version must be ${API_VERSION}.`);
    }
    const resource = request.query.resource;
    if (resource === undefined || resource === "") {
      return appServiceError(400, "The resource parameter is required.");
    }
    const choice = chooseIdentity(request, SELECTORS, context.config.identities);
    if (!choice.ok) {
      return appServiceError(400, "No managed identity of this compute matches the request.");
    }
    const issued = issueIdentityToken(context, choice.identity, resource);
    return jsonResponse(200, {
      access_token: issued.token,
      expires_on: legacyExpiresOn(issued.expiresOn),
      resource,
      token_type: "Bearer",
      client_id: choice.identity.clientId,
    });
  },
};
