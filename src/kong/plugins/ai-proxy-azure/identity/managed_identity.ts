// What the managed identity endpoints other than IMDS share: how a
// user-assigned identity is named, and how their answers and failures read.
// App Service, Arc, Azure Machine Learning and Cloud Shell answer errors in
// one of two shapes: OAuth's {"error","error_description"} or App Service's
// {"statusCode","message"}; both are read here.

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
  redact,
  safe_code,
  string_field,
  token_error,
} from "./common";
import { expiry_of } from "./expiry";
import type { Token, TokenError } from "./types";


/** A user-assigned identity, by one of the three ids Azure accepts. */
export interface UserAssignedId {
  kind: "client_id" | "object_id" | "resource_id";
  value: string;
}

/** Who asks and where, for the messages and log lines of one source. */
export interface EndpointContext {
  /** The token source by name, such as "managed identity (App Service)". */
  source: string;
  /** The service as a log line names it, such as "the App Service identity endpoint". */
  service: string;
  endpoint_host: string;
  identity?: UserAssignedId;
  /** Values that must never reach a log line (identity headers, key file contents). */
  secrets: ReadonlyArray<string>;
}


/** How TokenSource.identity and log lines name an identity; holds no secret. */
export function identity_label(identity: UserAssignedId | undefined): string {
  if (identity === undefined) {
    return "system-assigned";
  }
  if (identity.kind === "client_id") {
    return identity.value;
  }
  return `${identity.kind === "object_id" ? "object id" : "resource id"} ${identity.value}`;
}


function describe_identity(identity: UserAssignedId | undefined): string {
  return identity === undefined ? "system-assigned identity" : `user-assigned identity ${identity_label(identity)}`;
}


/** An endpoint URL from the environment, with its host for log lines; http or https only. */
export function endpoint_host_of(
  endpoint: string,
  variable: string,
): LuaMultiReturn<[string] | [undefined, string]> {
  const [target, err] = parse_url(endpoint);
  if (target === undefined) {
    return $multi(undefined, `failed to use ${variable}: ${err}`);
  }
  return $multi(host_of(target));
}


/**
 * The query every managed identity endpoint takes, in this order: its
 * api-version, the resource, and at most one parameter naming the identity.
 */
export function token_query(api_version: string, resource: string, selector?: [string, string]): string {
  const query: Array<[string, string]> = [
    ["api-version", api_version],
    ["resource", resource],
  ];
  if (selector !== undefined) {
    query.push(selector);
  }
  return http.encode_fields(query);
}


/** The endpoint URL with the query fields appended after any query it has. */
export function with_query(endpoint: string, fields: string): string {
  const separator = string.find(endpoint, "?", 1, true)[0] === undefined ? "?" : "&";
  return `${endpoint}${separator}${fields}`;
}


/**
 * A failure to talk to the endpoint at all. The environment says the endpoint
 * exists (unlike IMDS, which is looked for), so this is worth another try:
 * its agent may be restarting.
 */
export function transport_error(reason: string, context: EndpointContext): TokenError {
  const detail = `${context.service} at ${context.endpoint_host}: ${redact(reason, context.secrets)}`;
  if (is_connect_failure(reason)) {
    return token_error("transient", context.source, `${context.source} could not be reached`, detail);
  }
  if (is_timeout(reason)) {
    return token_error("transient", context.source, `${context.source} did not answer in time`, detail);
  }
  return token_error("transient", context.source, `${context.source} gave no usable answer`, detail);
}


/** A token from a managed identity endpoint's answer, or the error it describes. */
export function read_answer(
  response: http.HttpResponse,
  now: number,
  context: EndpointContext,
): LuaMultiReturn<[Token] | [undefined, TokenError]> {
  const answer = decode_object(response.body);
  const code = safe_code(answer === undefined ? undefined : string_field(answer, "error"));
  const description =
    answer === undefined ? undefined : string_field(answer, "error_description") ?? string_field(answer, "message");
  const detail =
    `${context.service} at ${context.endpoint_host} answered ${response.status} ` +
    `for the ${describe_identity(context.identity)}` +
    (code === undefined ? "" : `: ${code}`) +
    (description === undefined ? "" : ` (${first_line(redact(description, context.secrets))})`);
  const fail = (kind: TokenError["kind"], message: string, reason: string) =>
    $multi(undefined, token_error(kind, context.source, message, reason, response, code));

  if (response.status === 200) {
    const unreadable = `${context.source} sent a token response that could not be read`;
    const access_token = answer === undefined ? undefined : string_field(answer, "access_token");
    if (answer === undefined || !is_bearer_token(access_token)) {
      return fail("transient", unreadable, `${detail}: no usable access_token`);
    }
    const expires_at = expiry_of(answer, now);
    if (expires_at === undefined) {
      return fail("transient", unreadable, `${detail}: no usable expires_on or expires_in`);
    }
    return $multi({ access_token, expires_at });
  }

  if (is_transient_status(response.status)) {
    return fail("transient", `${context.source} cannot issue a token right now (HTTP ${response.status})`, detail);
  }

  // "Identity not found" (IMDS wording, which Arc and Cloud Shell share) and
  // App Service's 400/404 for an identity the site does not have.
  const lower = string.lower(description ?? "");
  const names_identity = string.find(lower, "identity", 1, true)[0] !== undefined;
  if ((response.status === 400 || response.status === 404) && names_identity) {
    const message =
      context.identity === undefined
        ? `${context.source} is unavailable: no managed identity is assigned to this host`
        : `${context.source} is unavailable: the ${describe_identity(context.identity)} is not assigned to this host`;
    return fail("unavailable", message, detail);
  }

  if (response.status >= 400) {
    return fail("refused", `${context.source} refused the token request (${code ?? `HTTP ${response.status}`})`, detail);
  }
  return fail("transient", `${context.source} sent an unexpected answer (HTTP ${response.status})`, detail);
}
