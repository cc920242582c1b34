// Which token source signs requests, from the plugin's auth config and the
// environment captured at load.
//
// Config fields win; the AZURE_* variables fill the ones left empty. Then the
// first that applies: a client secret (needs client id and tenant), the AKS
// workload identity (client id, tenant and AZURE_FEDERATED_TOKEN_FILE), and
// with azure_use_managed_identity the host's managed identity through IMDS,
// user-assigned when a client id is known.

import { client_secret_source } from "./client_credentials";
import { parse_authority } from "./entra";
import { environment, type IdentityEnvironment } from "./env";
import { imds_endpoint, imds_source } from "./imds";
import type { TokenSource } from "./types";
import { workload_identity_source } from "./workload_identity";

export type { Token, TokenError, TokenErrorKind, TokenSource, TokenSourceKind } from "./types";


const DEFAULT_TIMEOUT_MS = 5000;

// A tenant goes into the token URL's path: a GUID or a domain name.
const TENANT_PATTERN = "^[%w][%w%.%-]*$";


/** The identity fields of the plugin's auth config; unset fields are undefined. */
export interface IdentityConfig {
  azure_use_managed_identity?: boolean;
  azure_client_id?: string;
  azure_client_secret?: string;
  azure_tenant_id?: string;
}

export interface SourceOptions {
  /** Replaces the environment captured at load; for specs. */
  environment?: IdentityEnvironment;
  /** For each token request, from connecting to the last byte. Defaults to 5 s. */
  timeout_ms?: number;
}


function present(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}


function failure(reason: string): LuaMultiReturn<[undefined, string]> {
  return $multi(undefined, `failed to select an Azure identity: ${reason}`);
}


/**
 * The token source for this config, or undefined and a configuration error.
 * resource is the audience without "/.default", such as
 * "https://cognitiveservices.azure.com".
 */
export function select_source(
  auth: IdentityConfig,
  resource: string,
  options?: SourceOptions,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const env = options?.environment ?? environment;
  const timeout_ms = options?.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  const client_id = present(auth.azure_client_id) ?? env.AZURE_CLIENT_ID;
  const client_secret = present(auth.azure_client_secret) ?? env.AZURE_CLIENT_SECRET;
  const tenant = present(auth.azure_tenant_id) ?? env.AZURE_TENANT_ID;

  if (resource === "") {
    return failure("no resource (audience) to ask a token for");
  }
  if (tenant !== undefined && string.find(tenant, TENANT_PATTERN)[0] === undefined) {
    return failure("the tenant (azure_tenant_id or AZURE_TENANT_ID) is not a tenant id or domain name");
  }

  if (client_secret !== undefined) {
    if (client_id === undefined || tenant === undefined) {
      return failure(
        "a client secret needs a client id and a tenant: set azure_client_id and azure_tenant_id " +
          "(or AZURE_CLIENT_ID and AZURE_TENANT_ID)",
      );
    }
    const [authority, authority_err] = parse_authority(env.AZURE_AUTHORITY_HOST);
    if (authority === undefined) {
      return failure(authority_err);
    }
    return $multi(client_secret_source(authority, tenant, client_id, client_secret, resource, timeout_ms));
  }

  if (client_id !== undefined && tenant !== undefined && env.AZURE_FEDERATED_TOKEN_FILE !== undefined) {
    const [authority, authority_err] = parse_authority(env.AZURE_AUTHORITY_HOST);
    if (authority === undefined) {
      return failure(authority_err);
    }
    return $multi(
      workload_identity_source(authority, tenant, client_id, env.AZURE_FEDERATED_TOKEN_FILE, resource, timeout_ms),
    );
  }

  if (auth.azure_use_managed_identity === true) {
    const [endpoint, endpoint_err] = imds_endpoint(env.AZURE_POD_IDENTITY_AUTHORITY_HOST);
    if (endpoint === undefined) {
      return failure(endpoint_err);
    }
    const [source, source_err] = imds_source(endpoint, resource, client_id, timeout_ms);
    if (source === undefined) {
      return failure(source_err);
    }
    return $multi(source);
  }

  return failure(
    "none is configured: set azure_use_managed_identity, or azure_client_id, azure_client_secret " +
      "and azure_tenant_id",
  );
}
