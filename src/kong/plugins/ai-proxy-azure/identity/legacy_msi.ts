// The two sources behind the older MSI_ENDPOINT variable:
//
// - Azure Machine Learning (MSI_ENDPOINT with MSI_SECRET): App Service's
//   2017-09-01 protocol, with the secret in a `secret` header, the client id
//   as `clientid=`, and expires_on as a date string.
// - Azure Cloud Shell (MSI_ENDPOINT alone): a form POST of the resource; it
//   serves the signed-in user's token and knows no user-assigned identity.

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


const ML_SOURCE = "managed identity (Azure Machine Learning)";

const CLOUD_SHELL_SOURCE = "Cloud Shell identity";

const ML_API_VERSION = "2017-09-01";


export function build_ml_request(
  endpoint: string,
  secret: string,
  resource: string,
  client_id: string | undefined,
  timeout_ms: number,
): http.HttpRequest {
  const selector: [string, string] | undefined = client_id === undefined ? undefined : ["clientid", client_id];
  return {
    method: "GET",
    url: with_query(endpoint, token_query(ML_API_VERSION, resource, selector)),
    headers: { secret },
    timeout_ms,
  };
}


export function build_cloud_shell_request(endpoint: string, resource: string, timeout_ms: number): http.HttpRequest {
  return {
    method: "POST",
    url: endpoint,
    headers: { Metadata: "true", "Content-Type": "application/x-www-form-urlencoded" },
    body: http.encode_fields([["resource", resource]]),
    timeout_ms,
  };
}


function source_with(
  kind: TokenSource["kind"],
  context: EndpointContext,
  cache_key: string,
  identity: string,
  build: () => http.HttpRequest,
): TokenSource {
  return {
    kind,
    label: context.source,
    cache_key,
    identity,
    endpoint_host: context.endpoint_host,
    fetch: (): LuaMultiReturn<[Token] | [undefined, TokenError]> => {
      const [response, reason] = http.request(build());
      if (response === undefined) {
        return $multi(undefined, transport_error(reason, context));
      }
      return read_answer(response, ngx.time(), context);
    },
  };
}


/** Azure Machine Learning's identity; a user-assigned one only by client id, as its protocol allows. */
export function ml_source(
  endpoint: string,
  secret: string,
  resource: string,
  client_id: string | undefined,
  timeout_ms: number,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const [endpoint_host, err] = endpoint_host_of(endpoint, "MSI_ENDPOINT");
  if (endpoint_host === undefined) {
    return $multi(undefined, err);
  }
  const identity: UserAssignedId | undefined =
    client_id === undefined ? undefined : { kind: "client_id", value: client_id };
  const context: EndpointContext = {
    source: ML_SOURCE,
    service: "the Azure Machine Learning identity endpoint",
    endpoint_host,
    identity,
    secrets: [secret],
  };
  const cache_key = `ml|${endpoint}|${identity_label(identity)}|${resource}`;
  return $multi(
    source_with("ml", context, cache_key, identity_label(identity), () =>
      build_ml_request(endpoint, secret, resource, client_id, timeout_ms)),
  );
}


export function cloud_shell_source(
  endpoint: string,
  resource: string,
  timeout_ms: number,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const [endpoint_host, err] = endpoint_host_of(endpoint, "MSI_ENDPOINT");
  if (endpoint_host === undefined) {
    return $multi(undefined, err);
  }
  const context: EndpointContext = {
    source: CLOUD_SHELL_SOURCE,
    service: "the Cloud Shell token endpoint",
    endpoint_host,
    secrets: [],
  };
  const cache_key = `cloud_shell|${endpoint}|${resource}`;
  // Cloud Shell hands out the token of whoever signed in to the shell.
  const build = () => build_cloud_shell_request(endpoint, resource, timeout_ms);
  return $multi(source_with("cloud_shell", context, cache_key, "the signed-in user", build));
}
