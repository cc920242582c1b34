// An app registration's client secret, exchanged at Entra ID for a token
// (the client credentials grant).

import { request_token, client_secret_fields, token_url, type Authority, type EntraContext } from "./entra";
import type { Token, TokenError, TokenSource } from "./types";


const SOURCE = "client secret (Entra ID)";

// Hex digits of the secret's MD5 in the cache key: a new secret gets a new
// key (so a failure remembered for a wrong secret does not outlive it), and
// so few digits of a digest give nothing of the secret away.
const FINGERPRINT_LENGTH = 8;


export function client_secret_source(
  authority: Authority,
  tenant: string,
  client_id: string,
  client_secret: string,
  resource: string,
  timeout_ms: number,
): TokenSource {
  const scope = `${resource}/.default`;
  const url = token_url(authority, tenant);
  const fingerprint = string.sub(ngx.md5(client_secret), 1, FINGERPRINT_LENGTH);
  const context: EntraContext = {
    source: SOURCE,
    credential: "client credentials",
    tenant,
    client_id,
    authority_host: authority.host,
    secrets: [client_secret],
  };

  return {
    kind: "client_secret",
    label: SOURCE,
    cache_key: `client_secret|${authority.base}|${tenant}|${client_id}|${resource}|${fingerprint}`,
    identity: client_id,
    endpoint_host: authority.host,
    fetch: (): LuaMultiReturn<[Token] | [undefined, TokenError]> => {
      return request_token(url, client_secret_fields(client_id, scope, client_secret), timeout_ms, context);
    },
  };
}
