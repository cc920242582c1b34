// The Microsoft Entra ID v2 token endpoint, for the client credentials grant:
// with a client secret, or with a client assertion such as the federated token
// of an AKS workload identity.
//
// Based on the Microsoft identity platform's "OAuth 2.0 client credentials
// flow" reference.

import * as http from "../http";
import { parse_url } from "../url";
import {
  decode_object,
  first_line,
  first_number,
  host_of,
  integer_field,
  is_bearer_token,
  is_transient_status,
  redact,
  safe_code,
  string_field,
  token_error,
} from "./common";
import type { Token, TokenError } from "./types";


const DEFAULT_AUTHORITY = "https://login.microsoftonline.com";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// OAuth error codes that say "ask again later", whatever the status.
const TRANSIENT_CODES: Record<string, true> = {
  temporarily_unavailable: true,
  server_error: true,
};


export interface Authority {
  /** Scheme, host and any path, without a trailing "/". */
  base: string;
  /** Host, and the port when it is not 443. */
  host: string;
}

/** Who asks, for the messages and log lines of a failed request. */
export interface EntraContext {
  /** The token source by name, such as "client secret (Entra ID)". */
  source: string;
  /** What Entra may refuse, such as "client credentials". */
  credential: string;
  tenant: string;
  client_id: string;
  authority_host: string;
  /** Values that must never reach a log line, even when Entra echoes them. */
  secrets: ReadonlyArray<string>;
}


/** The authority from AZURE_AUTHORITY_HOST, or the public cloud's; https only. */
export function parse_authority(authority_host: string | undefined): LuaMultiReturn<[Authority] | [undefined, string]> {
  const [base] = string.gsub(authority_host ?? DEFAULT_AUTHORITY, "/+$", "");
  const [target, err] = parse_url(base);
  if (target === undefined) {
    return $multi(undefined, `failed to use AZURE_AUTHORITY_HOST: ${err}`);
  }
  if (target.scheme !== "https") {
    return $multi(undefined, "failed to use AZURE_AUTHORITY_HOST: the authority must be an https URL");
  }
  if (target.query !== "") {
    return $multi(undefined, "failed to use AZURE_AUTHORITY_HOST: it has a query");
  }
  return $multi({ base, host: host_of(target) });
}


export function token_url(authority: Authority, tenant: string): string {
  return `${authority.base}/${tenant}/oauth2/v2.0/token`;
}


/** The form fields of a client credentials request with a client secret. */
export function client_secret_fields(client_id: string, scope: string, client_secret: string): Array<[string, string]> {
  return [
    ["client_id", client_id],
    ["scope", scope],
    ["grant_type", "client_credentials"],
    ["client_secret", client_secret],
  ];
}


/** The form fields of a client credentials request with a client assertion (a JWT). */
export function client_assertion_fields(client_id: string, scope: string, assertion: string): Array<[string, string]> {
  return [
    ["client_id", client_id],
    ["scope", scope],
    ["grant_type", "client_credentials"],
    ["client_assertion_type", ASSERTION_TYPE],
    ["client_assertion", assertion],
  ];
}


export function build_token_request(
  url: string,
  fields: ReadonlyArray<readonly [string, string]>,
  timeout_ms: number,
): http.HttpRequest {
  return {
    method: "POST",
    url,
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    },
    body: http.encode_fields(fields),
    timeout_ms,
  };
}


/** A failure to talk to Entra at all: Entra exists, so this is always worth retrying. */
export function entra_transport_error(reason: string, context: EntraContext): TokenError {
  return token_error(
    "transient",
    context.source,
    `${context.source} is unavailable for now: Entra ID could not be reached`,
    `Entra ID at ${context.authority_host} for client ${context.client_id} in tenant ${context.tenant}: ${reason}`,
  );
}


/**
 * A token from an Entra answer, or the error it describes. Entra sends
 * numbers; expires_in is relative, refresh_in (when sent) says when to renew.
 */
export function read_token_response(
  response: http.HttpResponse,
  now: number,
  context: EntraContext,
): LuaMultiReturn<[Token] | [undefined, TokenError]> {
  const answer = decode_object(response.body);
  const where =
    `Entra ID at ${context.authority_host} answered ${response.status} ` +
    `for client ${context.client_id} in tenant ${context.tenant}`;
  const fail = (kind: TokenError["kind"], message: string, detail: string, code?: string) =>
    $multi(undefined, token_error(kind, context.source, message, detail, response, code));

  if (response.status === 200) {
    const access_token = answer === undefined ? undefined : string_field(answer, "access_token");
    const expires_in = answer === undefined ? undefined : integer_field(answer, "expires_in");
    if (answer === undefined || !is_bearer_token(access_token) || expires_in === undefined || expires_in <= 0) {
      const message = `${context.source}: Entra ID sent a token response that could not be read`;
      return fail("transient", message, `${where}: no usable access_token or expires_in`);
    }
    const refresh_in = integer_field(answer, "refresh_in");
    const token: Token = { access_token, expires_at: now + expires_in };
    if (refresh_in !== undefined && refresh_in > 0 && refresh_in < expires_in) {
      token.refresh_at = now + refresh_in;
    }
    return $multi(token);
  }

  const code = safe_code(answer === undefined ? undefined : string_field(answer, "error"));
  const description = answer === undefined ? undefined : string_field(answer, "error_description");
  const error_number = answer === undefined ? undefined : first_number(answer, "error_codes");
  const aadsts =
    error_number !== undefined
      ? `AADSTS${error_number}`
      : description === undefined
        ? undefined
        : string.match(description, "^(AADSTS%d+)")[0];
  const detail =
    where +
    (code === undefined ? "" : `: ${code}`) +
    (aadsts === undefined ? "" : ` ${aadsts}`) +
    (description === undefined ? "" : ` (${first_line(redact(description, context.secrets))})`);

  if (is_transient_status(response.status) || (code !== undefined && TRANSIENT_CODES[code] !== undefined)) {
    const message = `${context.source}: Entra ID cannot issue a token right now (HTTP ${response.status})`;
    return fail("transient", message, detail, code);
  }

  // Any other 4xx (invalid_client, unauthorized_client, invalid_request for an
  // unknown tenant, ...) gets the same answer when asked again.
  if (response.status >= 400) {
    const reason = code ?? `HTTP ${response.status}`;
    return fail("refused", `Entra ID refused the ${context.credential} (${reason})`, detail, code);
  }

  const message = `${context.source}: Entra ID sent an unexpected answer (HTTP ${response.status})`;
  return fail("transient", message, detail, code);
}


/** One token request to Entra; fields holds the credential. */
export function request_token(
  url: string,
  fields: ReadonlyArray<readonly [string, string]>,
  timeout_ms: number,
  context: EntraContext,
): LuaMultiReturn<[Token] | [undefined, TokenError]> {
  const [response, reason] = http.request(build_token_request(url, fields, timeout_ms));
  if (response === undefined) {
    return $multi(undefined, entra_transport_error(redact(reason, context.secrets), context));
  }
  return read_token_response(response, ngx.time(), context);
}
