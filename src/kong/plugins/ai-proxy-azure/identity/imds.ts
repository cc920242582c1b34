// Managed identity through the Azure Instance Metadata Service (VMs, scale
// sets, AKS nodes, container instances), or through a pod identity agent that
// stands in for it at AZURE_POD_IDENTITY_AUTHORITY_HOST.
//
// Based on Microsoft's "How to use managed identities on a VM to acquire an
// access token" (api-version 2018-02-01).

import * as http from "../http";
import { parse_url } from "../url";
import {
  decode_object,
  first_line,
  host_of,
  is_bearer_token,
  is_connect_failure,
  is_timeout,
  is_transient_status,
  safe_code,
  string_field,
  token_error,
} from "./common";
import { expiry_of } from "./expiry";
import { identity_label, token_query, type UserAssignedId } from "./managed_identity";
import type { Token, TokenError, TokenSource } from "./types";


const SOURCE = "managed identity (IMDS)";

const DEFAULT_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token";

const TOKEN_PATH = "/metadata/identity/oauth2/token";

const API_VERSION = "2018-02-01";

// IMDS is a link-local address: when it does not accept a connection within
// this time, there is none.
const CONNECT_TIMEOUT_MS = 2000;

const SELECTOR_PARAMS: Record<UserAssignedId["kind"], string> = {
  client_id: "client_id",
  object_id: "object_id",
  resource_id: "msi_res_id",
};


/**
 * The token URL without its query. With a pod identity host the Azure SDK
 * lower-cases the URL and ends the path with "/"; so does this, so that both
 * send the same request. A trailing "/" on the variable is dropped first (the
 * SDK would send "//metadata").
 */
export function imds_endpoint(pod_identity_host: string | undefined): LuaMultiReturn<[string] | [undefined, string]> {
  if (pod_identity_host === undefined) {
    return $multi(DEFAULT_ENDPOINT);
  }
  const [base] = string.gsub(string.lower(pod_identity_host), "/+$", "");
  const endpoint = `${base}${TOKEN_PATH}/`;
  const [target, err] = parse_url(endpoint);
  if (target === undefined) {
    return $multi(undefined, `failed to use AZURE_POD_IDENTITY_AUTHORITY_HOST: ${err}`);
  }
  if (target.query !== "") {
    return $multi(undefined, "failed to use AZURE_POD_IDENTITY_AUTHORITY_HOST: it has a query");
  }
  return $multi(endpoint);
}


/** The token request; identity selects a user-assigned identity by client, object or resource id. */
export function build_imds_request(
  endpoint: string,
  resource: string,
  identity: UserAssignedId | undefined,
  timeout_ms: number,
): http.HttpRequest {
  const selector: [string, string] | undefined =
    identity === undefined ? undefined : [SELECTOR_PARAMS[identity.kind], identity.value];
  return {
    method: "GET",
    url: `${endpoint}?${token_query(API_VERSION, resource, selector)}`,
    headers: { Metadata: "true" },
    timeout_ms,
    connect_timeout_ms: math.min(CONNECT_TIMEOUT_MS, timeout_ms),
  };
}


function imds_error(
  kind: TokenError["kind"],
  message: string,
  detail: string,
  response?: http.HttpResponse,
  code?: string,
): TokenError {
  return token_error(kind, SOURCE, message, detail, response, code);
}


function describe_identity(client_id: string | undefined): string {
  return client_id === undefined ? "system-assigned identity" : `user-assigned identity ${client_id}`;
}


/** A failure to talk to IMDS at all: no endpoint here, or one too slow to answer. */
export function imds_transport_error(reason: string, endpoint_host: string): TokenError {
  const detail = `IMDS at ${endpoint_host}: ${reason}`;
  if (is_connect_failure(reason)) {
    const message = `${SOURCE} is unavailable: its endpoint cannot be reached from this host`;
    return imds_error("unavailable", message, detail);
  }
  if (is_timeout(reason)) {
    return imds_error("transient", `${SOURCE} did not answer in time`, detail);
  }
  return imds_error("transient", `${SOURCE} gave no usable answer`, detail);
}


/**
 * A token from an IMDS answer, or the error it describes. IMDS sends every
 * value as a string; expires_on (epoch seconds) is preferred, expires_in is
 * the fallback when expires_on is missing, unreadable or already past.
 * client_id is the identity's label: its client id, "object id <id>", ...
 */
export function read_imds_response(
  response: http.HttpResponse,
  now: number,
  client_id: string | undefined,
  endpoint_host: string,
): LuaMultiReturn<[Token] | [undefined, TokenError]> {
  const answer = decode_object(response.body);
  const code = safe_code(answer === undefined ? undefined : string_field(answer, "error"));
  const description = answer === undefined ? undefined : string_field(answer, "error_description");
  const detail =
    `IMDS at ${endpoint_host} answered ${response.status} for the ${describe_identity(client_id)}` +
    (code === undefined ? "" : `: ${code}`) +
    (description === undefined ? "" : ` (${first_line(description)})`);

  if (response.status === 200) {
    const unreadable = `${SOURCE} sent a token response that could not be read`;
    const access_token = answer === undefined ? undefined : string_field(answer, "access_token");
    if (answer === undefined || !is_bearer_token(access_token)) {
      return $multi(undefined, imds_error("transient", unreadable, `${detail}: no usable access_token`, response));
    }
    const expires_at = expiry_of(answer, now);
    if (expires_at === undefined) {
      const reason = `${detail}: no usable expires_on or expires_in`;
      return $multi(undefined, imds_error("transient", unreadable, reason, response));
    }
    return $multi({ access_token, expires_at });
  }

  if (
    response.status === 400 &&
    description !== undefined &&
    string.find(string.lower(description), "identity not found", 1, true)[0] !== undefined
  ) {
    const message =
      client_id === undefined
        ? `${SOURCE} is unavailable: no managed identity is assigned to this host`
        : `${SOURCE} is unavailable: the user-assigned identity ${client_id} is not assigned to this host`;
    return $multi(undefined, imds_error("unavailable", message, detail, response, code));
  }

  // 404 and 410 come while IMDS is being updated; it answers again within 70 s.
  if (response.status === 404 || response.status === 410 || is_transient_status(response.status)) {
    const message = `${SOURCE} cannot issue a token right now (HTTP ${response.status})`;
    return $multi(undefined, imds_error("transient", message, detail, response, code));
  }

  if (response.status >= 400) {
    const message = `${SOURCE} refused the token request (${code ?? `HTTP ${response.status}`})`;
    return $multi(undefined, imds_error("refused", message, detail, response, code));
  }

  const message = `${SOURCE} sent an unexpected answer (HTTP ${response.status})`;
  return $multi(undefined, imds_error("transient", message, detail, response));
}


/** A token source for the host's system-assigned identity, or the user-assigned one named. */
export function imds_source(
  endpoint: string,
  resource: string,
  user_assigned: UserAssignedId | undefined,
  timeout_ms: number,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const [target, err] = parse_url(endpoint);
  if (target === undefined) {
    return $multi(undefined, err);
  }
  const endpoint_host = host_of(target);
  const identity = identity_label(user_assigned);
  // Messages name a user-assigned identity by its label, and none for the system-assigned one.
  const client_id = user_assigned === undefined ? undefined : identity;

  return $multi({
    kind: "imds",
    label: SOURCE,
    cache_key: `imds|${endpoint_host}${target.path}|${identity}|${resource}`,
    identity,
    endpoint_host,
    fetch: (): LuaMultiReturn<[Token] | [undefined, TokenError]> => {
      const [response, reason] = http.request(build_imds_request(endpoint, resource, user_assigned, timeout_ms));
      if (response === undefined) {
        return $multi(undefined, imds_transport_error(reason, endpoint_host));
      }
      return read_imds_response(response, ngx.time(), client_id, endpoint_host);
    },
  });
}
