// Azure Cloud Shell's token endpoint: a POST with the resource as a form field.
// Cloud Shell serves the signed-in user's token; the simulator answers with the
// system-assigned identity, in IMDS's string-valued shape.

import { statusWord, type EndpointDefinition } from "../endpoint.ts";
import { jsonResponse } from "../http-util.ts";
import {
  imdsTokenBody,
  isMetadataRequest,
  issueIdentityToken,
  oauthError,
  TRUNCATED_TOKEN_BODY,
} from "./managed-identity.ts";


const USER_ASSIGNED_FIELDS = ["client_id", "object_id", "msi_res_id", "mi_res_id"];


export const cloudShellEndpoint: EndpointDefinition = {
  name: "cloudshell",
  ports: ["http"],
  matches: (path) => path === "/oauth2/token" || path === "/oauth2/token/",
  errorResponse: (status, message) => oauthError(status, statusWord(status), message),
  malformedBody: TRUNCATED_TOKEN_BODY,

  handle(request, context) {
    if (request.method !== "POST") {
      return oauthError(405, "method_not_allowed", "Only POST is supported on this route.");
    }
    if (!isMetadataRequest(request)) {
      return oauthError(400, "bad_request", "The Metadata: true header is required.");
    }
    const form = new URLSearchParams(request.body);
    const resource = form.get("resource");
    if (resource === null || resource === "") {
      return oauthError(400, "invalid_request", "The resource form field is required.");
    }
    if (USER_ASSIGNED_FIELDS.some((field) => form.has(field) || request.params.has(field))) {
      return oauthError(400, "invalid_request", "Cloud Shell does not support user-assigned identities.");
    }
    const identity = context.config.identities.find((candidate) => candidate.kind === "system");
    if (identity === undefined) {
      return oauthError(400, "invalid_request", "Identity not found");
    }
    const issued = issueIdentityToken(context, identity, resource);
    return jsonResponse(200, imdsTokenBody(issued, resource, identity));
  },
};
