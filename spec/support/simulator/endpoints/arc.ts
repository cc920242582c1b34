// Azure Arc's hybrid instance metadata service (api-version 2020-06-01): a first call
// is refused with a challenge naming a key file; the caller proves it may read that
// file by sending its contents as Basic credentials.

import { randomBytes, randomUUID } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

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


const PATHS = new Set(["/arc/metadata/identity/oauth2/token", "/arc/metadata/identity/oauth2/token/"]);

const API_VERSION = "2020-06-01";

const BASIC = /^Basic\s+(\S+)\s*$/i;

// Arc offers only the machine's system-assigned identity: no selector is accepted.
const NO_SELECTORS: SelectorParams = {};

const USER_ASSIGNED_PARAMS = ["client_id", "object_id", "msi_res_id"];


export function createArcEndpoint(): EndpointDefinition {
  const validSecrets = new Set<string>();

  return {
    name: "arc",
    ports: ["http"],
    matches: (path) => PATHS.has(path),
    errorResponse: (status, message) => oauthError(status, statusWord(status), message),
    malformedBody: TRUNCATED_TOKEN_BODY,
    reset: () => validSecrets.clear(),

    async handle(request, context) {
      if (request.method !== "GET") {
        return oauthError(405, "method_not_allowed", "Only GET is supported on this route.");
      }
      if (!isMetadataRequest(request)) {
        return oauthError(400, "bad_request", "The Metadata: true header is required.");
      }
      if (request.query["api-version"] !== API_VERSION) {
        return oauthError(400, "invalid_request", `api-version must be ${API_VERSION}.`);
      }
      const resource = request.query.resource;
      if (resource === undefined || resource === "") {
        return oauthError(400, "invalid_request", "The resource parameter is required.");
      }
      if (USER_ASSIGNED_PARAMS.some((param) => request.params.has(param))) {
        return oauthError(400, "invalid_request", "Azure Arc supports only the system-assigned identity.");
      }

      const authorization = request.headers["authorization"];
      if (authorization === undefined) {
        const configured = context.config.arcKeyDirectory;
        const directory = configured === "" ? join(context.tempDir, "arc-tokens") : configured;
        await mkdir(directory, { recursive: true, mode: 0o700 });
        const keyPath = join(directory, `${randomUUID()}.key`);
        const secret = randomBytes(32).toString("hex");
        await writeFile(keyPath, secret, { mode: context.config.arcKeyFileMode });
        // writeFile's mode passes through the umask; the configured mode is what a test asked for.
        await chmod(keyPath, context.config.arcKeyFileMode);
        validSecrets.add(secret);
        return {
          ...oauthError(401, "unauthorized", "Read the key file named in WWW-Authenticate and retry."),
          headers: {
            "content-type": "application/json; charset=utf-8",
            "www-authenticate": `Basic realm=${keyPath}`,
          },
        };
      }
      const basic = BASIC.exec(authorization);
      if (basic === null || !validSecrets.has(basic[1])) {
        return oauthError(401, "unauthorized", "The Basic credentials do not match any issued key.");
      }

      const choice = chooseIdentity(request, NO_SELECTORS, context.config.identities);
      if (!choice.ok) {
        return oauthError(400, "invalid_request", "Identity not found");
      }
      const issued = issueIdentityToken(context, choice.identity, resource);
      return jsonResponse(200, imdsTokenBody(issued, resource, choice.identity));
    },
  };
}
