// The configuration as the handler receives it, after Kong applied the schema's
// defaults. Optional fields are undefined when unset.

export interface AuthConfig {
  header_name?: string;
  header_value?: string;
}

export interface ModelOptions {
  azure_instance: string;
  azure_deployment_id: string;
  azure_api_version: string;
  upstream_url?: string;
}

export interface PluginConfig {
  route_type: "llm/v1/chat";
  auth?: AuthConfig;
  model: {
    provider: "azure";
    name?: string;
    options: ModelOptions;
  };
}
