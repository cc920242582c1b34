// The configuration as the handler receives it, after Kong applied the
// schema's defaults. Unset optional fields are undefined (Kong turns the
// stored nulls into nil before calling a handler).

export type RouteType = "llm/v1/chat" | "llm/v1/completions" | "llm/v1/embeddings" | "preserve";

export type AzureCloud = "public" | "usgovernment" | "china";

export interface AuthConfig {
  header_name?: string;
  header_value?: string;
  param_name?: string;
  param_value?: string;
  param_location?: "query" | "body";
  azure_use_managed_identity: boolean;
  azure_client_id?: string;
  azure_client_secret?: string;
  azure_tenant_id?: string;
  /** A user-assigned managed identity by object (principal) id. */
  azure_object_id?: string;
  /** A user-assigned managed identity by ARM resource id. */
  azure_resource_id?: string;
  /** Replaces the cloud's token scope, e.g. "https://cognitiveservices.azure.us/.default". */
  azure_token_scope?: string;
  allow_override: boolean;
  /** Seconds a request waits for a token when none is cached. */
  token_wait_timeout: number;
}

export interface ModelOptions {
  azure_instance: string;
  azure_deployment_id: string;
  azure_api_version: string;
  azure_cloud: AzureCloud;
  /** Replaces the cloud's Azure OpenAI host suffix, e.g. "cognitiveservices.azure.com". */
  azure_host_suffix?: string;
  /** deployments: /openai/deployments/{id}/...; v1: /openai/v1/... with the deployment as the body's model. */
  azure_api_style: "deployments" | "v1";
  upstream_url?: string;
  upstream_path?: string;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
}

export interface PluginConfig {
  /** The plugin entity's id, which Kong adds to every config it hands a handler. */
  __plugin_id?: string;
  route_type: RouteType;
  /** Absent when the config has no auth block. */
  auth?: AuthConfig;
  model: {
    provider: "azure";
    name?: string;
    options: ModelOptions;
  };
  logging: {
    log_statistics: boolean;
    log_payloads: boolean;
  };
  response_streaming: "allow" | "deny" | "always";
  max_request_body_size: number;
  model_name_header: boolean;
}
