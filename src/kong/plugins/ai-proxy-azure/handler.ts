// ai-proxy-azure: sends OpenAI-format requests to Azure OpenAI.
//
// Phases: access points the request at Azure and signs it; header_filter
// cleans the response headers.

import type { PluginConfig } from "./config";
import { parse_url, type ParsedUrl } from "./url";


const VERSION = "0.1.0";

// The same place in the plugin chain as Kong's ai-proxy.
const PRIORITY = 770;

const OPERATION_PATHS: Record<PluginConfig["route_type"], string> = {
  "llm/v1/chat": "/chat/completions",
};


function azure_url(conf: PluginConfig): string {
  const options = conf.model.options;
  return (
    `https://${options.azure_instance}.openai.azure.com` +
    `/openai/deployments/${options.azure_deployment_id}${OPERATION_PATHS[conf.route_type]}`
  );
}


/** The upstream query: the client's, with `api-version` from the client or else the config. */
function upstream_query(target: ParsedUrl, api_version: string): string {
  const client_args = ngx.decode_args(kong.request.get_raw_query());
  const args = ngx.decode_args(target.query);
  for (const [name, value] of client_args) {
    args.set(name, value);
  }
  if (args.get("api-version") === undefined) {
    args.set("api-version", api_version);
  }
  return ngx.encode_args(args);
}


function fail(status: number, message: string): never {
  return kong.response.exit(status, { error: { message } });
}


const handler = {
  PRIORITY,
  VERSION,

  access(this: KongPluginHandler, conf: PluginConfig): void {
    const [target, parse_err] = parse_url(conf.model.options.upstream_url ?? azure_url(conf));
    if (target === undefined) {
      kong.log.err("failed to build the Azure OpenAI URL: ", parse_err);
      return fail(500, "ai-proxy-azure is misconfigured: the Azure OpenAI URL is not valid");
    }

    kong.service.request.set_scheme(target.scheme);
    kong.service.set_target(target.host, target.port);
    kong.service.request.set_path(target.path);
    kong.service.request.set_raw_query(upstream_query(target, conf.model.options.azure_api_version));

    const auth = conf.auth;
    if (auth?.header_name !== undefined && auth.header_value !== undefined) {
      kong.service.request.set_header(auth.header_name, auth.header_value);
    }
  },

  header_filter(this: KongPluginHandler, conf: PluginConfig): void {
    kong.response.clear_header("Set-Cookie");
    if (conf.model.name !== undefined) {
      kong.response.set_header("X-Kong-LLM-Model", `azure/${conf.model.name}`);
    }
  },
};


export = handler;
