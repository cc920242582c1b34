// Managed identity on App Service, Azure Functions and Container Apps: a
// local endpoint named by IDENTITY_ENDPOINT, which trusts callers that send
// the IDENTITY_HEADER secret back in X-IDENTITY-HEADER.
//
// Based on Microsoft's "How to use managed identities for App Service and
// Azure Functions" (REST protocol, api-version 2019-08-01).

import * as http from "../http";
import {
  endpoint_host_of,
  identity_label,
  read_answer,
  token_query,
  transport_error,
  with_query,
  type EndpointContext,
  type UserAssignedId,
} from "./managed_identity";
import type { Token, TokenError, TokenSource } from "./types";


const SOURCE = "managed identity (App Service)";

const API_VERSION = "2019-08-01";

// This protocol spells the resource id selector mi_res_id (IMDS: msi_res_id).
const SELECTOR_PARAMS: Record<UserAssignedId["kind"], string> = {
  client_id: "client_id",
  object_id: "object_id",
  resource_id: "mi_res_id",
};


export function build_app_service_request(
  endpoint: string,
  identity_header: string,
  resource: string,
  identity: UserAssignedId | undefined,
  timeout_ms: number,
): http.HttpRequest {
  const selector: [string, string] | undefined =
    identity === undefined ? undefined : [SELECTOR_PARAMS[identity.kind], identity.value];
  return {
    method: "GET",
    url: with_query(endpoint, token_query(API_VERSION, resource, selector)),
    headers: { "X-IDENTITY-HEADER": identity_header },
    timeout_ms,
  };
}


export function app_service_source(
  endpoint: string,
  identity_header: string,
  resource: string,
  identity: UserAssignedId | undefined,
  timeout_ms: number,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const [endpoint_host, err] = endpoint_host_of(endpoint, "IDENTITY_ENDPOINT");
  if (endpoint_host === undefined) {
    return $multi(undefined, err);
  }
  const label = identity_label(identity);
  const context: EndpointContext = {
    source: SOURCE,
    service: "the App Service identity endpoint",
    endpoint_host,
    identity,
    secrets: [identity_header],
  };

  return $multi({
    kind: "app_service",
    label: SOURCE,
    cache_key: `app_service|${endpoint}|${label}|${resource}`,
    identity: label,
    endpoint_host,
    fetch: (): LuaMultiReturn<[Token] | [undefined, TokenError]> => {
      const request = build_app_service_request(endpoint, identity_header, resource, identity, timeout_ms);
      const [response, reason] = http.request(request);
      if (response === undefined) {
        return $multi(undefined, transport_error(reason, context));
      }
      return read_answer(response, ngx.time(), context);
    },
  });
}
