// Which token source signs requests, from the plugin's auth config and the
// environment captured at load.
//
// Config fields win; the AZURE_* variables fill the ones left empty. Then the
// first that applies: a client secret (needs client id and tenant), the AKS
// workload identity (client id, tenant and AZURE_FEDERATED_TOKEN_FILE), and
// with azure_use_managed_identity the host's managed identity, found in the
// order Azure's SDKs look: App Service (IDENTITY_ENDPOINT and
// IDENTITY_HEADER), Azure Machine Learning (MSI_ENDPOINT and MSI_SECRET),
// Cloud Shell (MSI_ENDPOINT), Azure Arc (IDENTITY_ENDPOINT and IMDS_ENDPOINT,
// or the agent installed), and IMDS when none of these is there.

import { app_service_source } from "./app_service";
import { arc_source, ARC_TOKENS_DIRECTORY, DEFAULT_ARC_ENDPOINT } from "./arc";
import { client_secret_source } from "./client_credentials";
import { parse_authority } from "./entra";
import { arc_agent_installed, environment, type IdentityEnvironment } from "./env";
import { imds_endpoint, imds_source } from "./imds";
import { cloud_shell_source, ml_source } from "./legacy_msi";
import type { UserAssignedId } from "./managed_identity";
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
  azure_object_id?: string;
  azure_resource_id?: string;
}

export interface SourceOptions {
  /** Replaces the environment captured at load; for specs. */
  environment?: IdentityEnvironment;
  /** For each token request, from connecting to the last byte. Defaults to 5 s. */
  timeout_ms?: number;
  /** The cloud's Entra authority; AZURE_AUTHORITY_HOST wins over it. Defaults to the public cloud's. */
  authority_host?: string;
  /** Replaces whether the Arc agent was found installed at load; for specs. */
  arc_agent_installed?: boolean;
}


function present(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}


function failure(reason: string): LuaMultiReturn<[undefined, string]> {
  return $multi(undefined, `failed to select an Azure identity: ${reason}`);
}


/**
 * The user-assigned identity the config names (client, object or resource
 * id; the schema allows one), else AZURE_CLIENT_ID's; undefined for the
 * system-assigned identity.
 */
function user_assigned(auth: IdentityConfig, env_client_id: string | undefined): UserAssignedId | undefined {
  const object_id = present(auth.azure_object_id);
  if (object_id !== undefined) {
    return { kind: "object_id", value: object_id };
  }
  const resource_id = present(auth.azure_resource_id);
  if (resource_id !== undefined) {
    return { kind: "resource_id", value: resource_id };
  }
  const client_id = present(auth.azure_client_id) ?? env_client_id;
  return client_id === undefined ? undefined : { kind: "client_id", value: client_id };
}


function where_named(identity: UserAssignedId): string {
  if (identity.kind === "object_id") {
    return "azure_object_id";
  }
  if (identity.kind === "resource_id") {
    return "azure_resource_id";
  }
  return "azure_client_id or AZURE_CLIENT_ID";
}


/**
 * The host's managed identity, from the first source whose variables are
 * there; or undefined and the reason, which the caller prefixes.
 */
function managed_identity_source(
  identity: UserAssignedId | undefined,
  env: Readonly<IdentityEnvironment>,
  resource: string,
  timeout_ms: number,
  arc_installed: boolean,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const refuse = (reason: string): LuaMultiReturn<[undefined, string]> => $multi(undefined, reason);
  const only_system = (service: string, named: UserAssignedId) =>
    refuse(`${service} offers no user-assigned identity, but ${where_named(named)} names one: remove it`);

  if (env.IDENTITY_ENDPOINT !== undefined && env.IDENTITY_HEADER !== undefined) {
    // Service Fabric serves HTTPS with a self-signed certificate that callers
    // are expected not to verify; we verify every certificate, so we refuse
    // rather than send its secret to a host we cannot check.
    if (env.IDENTITY_SERVER_THUMBPRINT !== undefined) {
      return refuse(
        "Service Fabric's managed identity (IDENTITY_SERVER_THUMBPRINT is set) is not supported: " +
          "its endpoint's certificate cannot be verified",
      );
    }
    return app_service_source(env.IDENTITY_ENDPOINT, env.IDENTITY_HEADER, resource, identity, timeout_ms);
  }

  if (env.MSI_ENDPOINT !== undefined && env.MSI_SECRET !== undefined) {
    if (identity !== undefined && identity.kind !== "client_id") {
      return refuse(
        `Azure Machine Learning names a user-assigned identity by client id only, but ${where_named(identity)} is set`,
      );
    }
    return ml_source(env.MSI_ENDPOINT, env.MSI_SECRET, resource, identity?.value, timeout_ms);
  }

  if (env.MSI_ENDPOINT !== undefined) {
    if (identity !== undefined) {
      return only_system("Cloud Shell (MSI_ENDPOINT)", identity);
    }
    return cloud_shell_source(env.MSI_ENDPOINT, resource, timeout_ms);
  }

  const arc_endpoint =
    env.IDENTITY_ENDPOINT !== undefined && env.IMDS_ENDPOINT !== undefined ? env.IDENTITY_ENDPOINT : undefined;
  if (arc_endpoint !== undefined || arc_installed) {
    if (identity !== undefined) {
      return only_system("Azure Arc", identity);
    }
    const endpoint = arc_endpoint ?? DEFAULT_ARC_ENDPOINT;
    const tokens_directory = env.AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR ?? ARC_TOKENS_DIRECTORY;
    return arc_source(endpoint, tokens_directory, resource, timeout_ms);
  }

  const [endpoint, endpoint_err] = imds_endpoint(env.AZURE_POD_IDENTITY_AUTHORITY_HOST);
  if (endpoint === undefined) {
    return refuse(endpoint_err);
  }
  return imds_source(endpoint, resource, identity, timeout_ms);
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
  // An object or resource id in the config names the identity: AZURE_CLIENT_ID then names nothing.
  const names_other_id = present(auth.azure_object_id) !== undefined || present(auth.azure_resource_id) !== undefined;
  const env_client_id = names_other_id ? undefined : env.AZURE_CLIENT_ID;
  const client_id = present(auth.azure_client_id) ?? env_client_id;
  const client_secret = present(auth.azure_client_secret) ?? env.AZURE_CLIENT_SECRET;
  const tenant = present(auth.azure_tenant_id) ?? env.AZURE_TENANT_ID;
  const authority_host = env.AZURE_AUTHORITY_HOST ?? options?.authority_host;

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
    const [authority, authority_err] = parse_authority(authority_host);
    if (authority === undefined) {
      return failure(authority_err);
    }
    return $multi(client_secret_source(authority, tenant, client_id, client_secret, resource, timeout_ms));
  }

  if (client_id !== undefined && tenant !== undefined && env.AZURE_FEDERATED_TOKEN_FILE !== undefined) {
    const [authority, authority_err] = parse_authority(authority_host);
    if (authority === undefined) {
      return failure(authority_err);
    }
    return $multi(
      workload_identity_source(authority, tenant, client_id, env.AZURE_FEDERATED_TOKEN_FILE, resource, timeout_ms),
    );
  }

  if (auth.azure_use_managed_identity === true) {
    const arc_installed = options?.arc_agent_installed ?? arc_agent_installed;
    const [source, source_err] = managed_identity_source(
      user_assigned(auth, env_client_id),
      env,
      resource,
      timeout_ms,
      arc_installed,
    );
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


/**
 * Says in the log, once per identity on the node, which source and identity
 * sign requests; never a secret. Kong's `kong` shared dict remembers that it
 * was said, so that every worker does not repeat it. Access phase only.
 */
export function announce(source: TokenSource, resource: string): void {
  const dict = ngx.shared.kong;
  if (dict !== undefined) {
    const [first] = dict.add(`ai-proxy-azure:announced:${source.cache_key}`, true);
    if (!first) {
      return;
    }
  }
  kong.log.info(
    "signing requests with ", source.label, " for ", source.identity, " (endpoint ", source.endpoint_host,
    ", resource ", resource, ")",
  );
  if (source.kind === "arc" && environment.AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR !== undefined) {
    kong.log.warn(
      "AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR replaces Azure Arc's key file directory: a setting for tests only",
    );
  }
}
