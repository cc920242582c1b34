// What every token source gives the handler: a token, or an error that says
// whether the source is missing here, refused us, or may work again soon.

export type TokenSourceKind =
  | "imds"
  | "app_service"
  | "arc"
  | "ml"
  | "cloud_shell"
  | "client_secret"
  | "workload_identity";

export interface Token {
  access_token: string;
  /** Epoch seconds. */
  expires_at: number;
  /** Epoch seconds; set when the endpoint suggested when to refresh (Entra's refresh_in). */
  refresh_at?: number;
}

/**
 * - unavailable: this source does not exist here (no identity assigned, no
 *   endpoint, no federated token file); retrying soon will not help.
 * - refused: the endpoint answered and rejected the request (bad client id,
 *   secret, tenant or assertion); a configuration problem.
 * - transient: timeouts, throttling, 5xx, unreadable answers; worth retrying.
 */
export type TokenErrorKind = "unavailable" | "refused" | "transient";

export interface TokenError {
  kind: TokenErrorKind;
  /** The source by name, such as "managed identity (IMDS)". */
  source: string;
  /** Safe to show a client: names the source and what went wrong, nothing more. */
  message: string;
  /** For the log: status, endpoint host, Entra error code and first line of its description. */
  detail: string;
  /** The endpoint's error code (Entra's or IMDS's "error"), when it sent one. */
  code?: string;
  /** The HTTP status, when the endpoint answered. */
  status?: number;
  /** Seconds the endpoint asked us to wait, from Retry-After and its millisecond variants. */
  retry_after?: number;
}

export interface TokenSource {
  kind: TokenSourceKind;
  /** The source by name, for logs and client messages. */
  label: string;
  /** Tells identities, scopes and authorities apart; holds no secret. */
  cache_key: string;
  /** The client id, "object id <id>", "resource id <id>", or "system-assigned". */
  identity: string;
  /** Host (and port when not the default) of the token endpoint. */
  endpoint_host: string;
  /** One token request; yields, so only where cosockets may run. */
  fetch(this: void): LuaMultiReturn<[Token] | [undefined, TokenError]>;
}
