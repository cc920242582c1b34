// Azure Instance Metadata Service, managed identity token route (VM, VMSS, AKS node).

import { statusWord, type EndpointDefinition } from "../endpoint.ts";
import { jsonResponse } from "../http-util.ts";
import {
  chooseIdentity,
  imdsTokenBody,
  isMetadataRequest,
  issueIdentityToken,
  oauthError,
  TRUNCATED_TOKEN_BODY,
  type SelectorParams,
} from "./managed-identity.ts";


// The SDKs add the trailing slash when AZURE_POD_IDENTITY_AUTHORITY_HOST is set.
const PATHS = new Set(["/metadata/identity/oauth2/token", "/metadata/identity/oauth2/token/"]);

const API_VERSIONS = new Set(["2018-02-01", "2019-08-01"]);

const SELECTORS: SelectorParams = { client_id: "clientId", object_id: "objectId", msi_res_id: "resourceId" };


export const imdsEndpoint: EndpointDefinition = {
  name: "imds",
  ports: ["http"],
  matches: (path) => PATHS.has(path),
  errorResponse: (status, message) => oauthError(status, statusWord(status), message),
  malformedBody: TRUNCATED_TOKEN_BODY,

  handle(request, context) {
    if (request.method !== "GET") {
      return oauthError(405, "method_not_allowed", "Only GET is supported on this route.");
    }
    if (!isMetadataRequest(request)) {
      return oauthError(400, "bad_request_102", "Required metadata header not specified");
    }
    const apiVersion = request.query["api-version"];
    if (apiVersion === undefined) {
      return oauthError(400, "invalid_request", "Required query variable 'api-version' is missing");
    }
    if (!API_VERSIONS.has(apiVersion)) {
      return oauthError(400, "invalid_request", `Unsupported api-version '${apiVersion}'`);
    }
    const resource = request.query.resource;
    if (resource === undefined || resource === "") {
      return oauthError(400, "invalid_request", "Required audience parameter not specified");
    }
    const choice = chooseIdentity(request, SELECTORS, context.config.identities);
    if (!choice.ok) {
      return choice.problem === "not found"
        ? oauthError(400, "invalid_request", "Identity not found")
        : oauthError(400, "invalid_request", "Only one of client_id, object_id and msi_res_id may be given");
    }
    const issued = issueIdentityToken(context, choice.identity, resource);
    return jsonResponse(200, imdsTokenBody(issued, resource, choice.identity));
  },
};
