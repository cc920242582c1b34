// AKS workload identity: the pod's projected service account token, in the
// file AZURE_FEDERATED_TOKEN_FILE names, is the client assertion for Entra ID.
//
// The kubelet rotates that file well before the token in it expires. A fetch
// reads it again each time: fetches are rare (one per token lifetime) and the
// file is small, so there is no stale copy to keep track of.

import { request_token, client_assertion_fields, token_url, type Authority, type EntraContext } from "./entra";
import { token_error } from "./common";
import type { Token, TokenError, TokenSource } from "./types";


const SOURCE = "workload identity (Entra ID)";

// Projected service account tokens are a few KiB.
const MAX_ASSERTION_BYTES = 64 * 1024;


/** The assertion in the token file, without surrounding blanks. */
export function read_assertion(path: string): LuaMultiReturn<[string] | [undefined, string]> {
  const [file, open_err] = io.open(path, "rb");
  if (file === undefined) {
    return $multi(undefined, `failed to open the federated token file: ${open_err}`);
  }
  const content = file.read(MAX_ASSERTION_BYTES + 1);
  file.close();

  if (content !== undefined && content.length > MAX_ASSERTION_BYTES) {
    return $multi(undefined, `failed to read the federated token file: larger than ${MAX_ASSERTION_BYTES} bytes`);
  }
  const [assertion] = string.match(content ?? "", "^%s*(.-)%s*$");
  if (assertion === undefined || assertion === "") {
    return $multi(undefined, "failed to read the federated token file: it is empty");
  }
  return $multi(assertion);
}


export function workload_identity_source(
  authority: Authority,
  tenant: string,
  client_id: string,
  token_file: string,
  resource: string,
  timeout_ms: number,
): TokenSource {
  const scope = `${resource}/.default`;
  const url = token_url(authority, tenant);

  return {
    kind: "workload_identity",
    label: SOURCE,
    cache_key: `workload_identity|${authority.base}|${tenant}|${client_id}|${resource}`,
    identity: client_id,
    endpoint_host: authority.host,
    fetch: (): LuaMultiReturn<[Token] | [undefined, TokenError]> => {
      const [assertion, file_err] = read_assertion(token_file);
      if (assertion === undefined) {
        return $multi(
          undefined,
          token_error(
            "unavailable",
            SOURCE,
            `${SOURCE} is unavailable: the file named by AZURE_FEDERATED_TOKEN_FILE is missing, unreadable or empty`,
            `${file_err} (client ${client_id}, tenant ${tenant})`,
          ),
        );
      }
      const context: EntraContext = {
        source: SOURCE,
        credential: "federated token of the workload identity",
        tenant,
        client_id,
        authority_host: authority.host,
        secrets: [assertion],
      };
      return request_token(url, client_assertion_fields(client_id, scope, assertion), timeout_ms, context);
    },
  };
}
