// Where a route's requests go in Azure OpenAI and which audience its tokens
// name, for each Azure cloud.
//
// The public cloud's values are Microsoft's documented ones. The US
// Government and China Cognitive Services audiences are not confirmed by
// Microsoft documentation we could find (they appear in third-party code),
// which is why auth.azure_token_scope and options.azure_host_suffix can
// replace what a cloud implies.

import type { AuthConfig, AzureCloud, ModelOptions, RouteType } from "./config";


export interface Cloud {
  /** Entra's authority; AZURE_AUTHORITY_HOST still wins over it. */
  authority_host: string;
  /** The Azure OpenAI token audience, without "/.default". */
  resource: string;
  /** Azure OpenAI resources are `<instance>.<suffix>`. */
  openai_host_suffix: string;
}


export const CLOUDS: Readonly<Record<AzureCloud, Cloud>> = {
  public: {
    authority_host: "https://login.microsoftonline.com",
    resource: "https://cognitiveservices.azure.com",
    openai_host_suffix: "openai.azure.com",
  },
  usgovernment: {
    authority_host: "https://login.microsoftonline.us",
    resource: "https://cognitiveservices.azure.us",
    openai_host_suffix: "openai.azure.us",
  },
  china: {
    authority_host: "https://login.chinacloudapi.cn",
    resource: "https://cognitiveservices.azure.cn",
    openai_host_suffix: "openai.azure.cn",
  },
};

const OPERATION_PATHS: Record<Exclude<RouteType, "preserve">, string> = {
  "llm/v1/chat": "/chat/completions",
  "llm/v1/completions": "/completions",
  "llm/v1/embeddings": "/embeddings",
};

const DEFAULT_SCOPE_SUFFIX = "/.default";


export function cloud_of(options: ModelOptions): Cloud {
  return CLOUDS[options.azure_cloud] ?? CLOUDS.public;
}


/**
 * The Azure OpenAI URL of a route. The deployments API names the deployment
 * in the path; the v1 API has one path per operation and takes the
 * deployment as the body's model. For preserve, only scheme and host count.
 */
export function azure_url(route_type: RouteType, options: ModelOptions): string {
  const suffix = options.azure_host_suffix ?? cloud_of(options).openai_host_suffix;
  const base = `https://${options.azure_instance}.${suffix}`;
  const operation = route_type === "preserve" ? "" : OPERATION_PATHS[route_type];
  if (options.azure_api_style === "v1") {
    return `${base}/openai/v1${operation}`;
  }
  return `${base}/openai/deployments/${options.azure_deployment_id}${operation}`;
}


/** The token audience without "/.default": the configured scope's, else the cloud's. */
export function token_resource(auth: AuthConfig, options: ModelOptions): string {
  const scope = auth.azure_token_scope;
  if (scope === undefined) {
    return cloud_of(options).resource;
  }
  const suffix_start = scope.length - DEFAULT_SCOPE_SUFFIX.length + 1;
  if (string.sub(scope, suffix_start) === DEFAULT_SCOPE_SUFFIX) {
    return string.sub(scope, 1, suffix_start - 1);
  }
  return scope;
}
