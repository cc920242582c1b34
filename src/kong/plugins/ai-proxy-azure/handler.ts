// ai-proxy-azure: sends OpenAI-format requests to Azure OpenAI.
//
// access checks and shapes the request, points it at Azure and signs it;
// header_filter cleans the response headers and drops a token Azure refused;
// body_filter and log hand the answer to the observability module.

import { azure_url, cloud_of, token_resource } from "./azure_endpoint";
import type { AuthConfig, PluginConfig } from "./config";
// Imported at load so that the identity module reads the environment in
// Kong's master process: nginx workers see no environment variables.
import { announce, select_source, type TokenError, type TokenSource } from "./identity/source";
import { body_json, is_array, is_object } from "./json";
import * as observability from "./observability";
import { read_body, request_scoped } from "./request_state";
import * as token_cache from "./token_cache";
import { parse_url, type ParsedUrl } from "./url";


const VERSION = "0.1.0";

// The same place in the plugin chain as Kong's ai-proxy.
const PRIORITY = 770;

// One token request, from connecting to the last byte.
const IDENTITY_TIMEOUT_MS = 5000;

// Client credentials that never reach Azure unless auth.allow_override is on.
const CLIENT_CREDENTIAL_HEADERS = ["Authorization", "api-key"];

const NO_AUTH: AuthConfig = { azure_use_managed_identity: false, allow_override: false, token_wait_timeout: 5 };


interface RequestState {
  /** The token this request was signed with, to drop it if Azure refuses it. */
  token?: string;
  source?: TokenSource;
  /** The model named in the request body, when the config names none. */
  request_model?: string;
}


interface Upstream {
  target: ParsedUrl;
  /** Undefined when Kong's routed path stays. */
  path?: string;
  /** The query Azure gets when the client sends none. */
  query_alone: string;
}


// Token sources and upstreams by plugin config; a new config (Kong rebuilds
// them on change) works them out again. Weak keys let old configs go.
const sources = setmetatable(new LuaTable<PluginConfig, TokenSource>(), { __mode: "k" });
const upstreams = setmetatable(new LuaTable<PluginConfig, Upstream>(), { __mode: "k" });


function fail(status: number, message: string): never {
  return kong.response.exit(status, { error: { message } });
}


const request_state = request_scoped<RequestState>(() => ({}));


/** The query Azure gets: the client's over the URL's, and an api-version. */
function upstream_query(target: ParsedUrl, conf: PluginConfig, auth: AuthConfig, client_query: string): string {
  const args = ngx.decode_args(target.query);
  for (const [name, value] of ngx.decode_args(client_query)) {
    args.set(name, value);
  }
  // The v1 API takes no api-version.
  if (args.get("api-version") === undefined && conf.model.options.azure_api_style !== "v1") {
    args.set("api-version", conf.model.options.azure_api_version);
  }
  if (auth.param_location === "query" && auth.param_name !== undefined && auth.param_value !== undefined) {
    if (!(auth.allow_override && args.get(auth.param_name) !== undefined)) {
      args.set(auth.param_name, auth.param_value);
    }
  }
  return ngx.encode_args(args);
}


/** Where a config sends requests, worked out once per config. */
function upstream_of(conf: PluginConfig, auth: AuthConfig): Upstream {
  const known = upstreams.get(conf);
  if (known !== undefined) {
    return known;
  }
  const [target, parse_err] = parse_url(conf.model.options.upstream_url ?? azure_url(conf.route_type, conf.model.options));
  if (target === undefined) {
    kong.log.err("failed to build the Azure OpenAI URL: ", parse_err);
    return fail(500, "ai-proxy-azure is misconfigured: the Azure OpenAI URL is not valid");
  }
  const upstream: Upstream = {
    target,
    // preserve keeps the path Kong routed, unless the config names one.
    path: conf.model.options.upstream_path ?? (conf.route_type === "preserve" ? undefined : target.path),
    query_alone: upstream_query(target, conf, auth, ""),
  };
  upstreams.set(conf, upstream);
  return upstream;
}


/** How Kong's balancer reads a host: an address it connects to as is, or a name it resolves. */
function host_kind(host: string): "ipv4" | "ipv6" | "name" {
  if (string.sub(host, 1, 1) === "[") {
    return "ipv6";
  }
  return string.find(host, "^%d+%.%d+%.%d+%.%d+$")[0] !== undefined ? "ipv4" : "name";
}


/**
 * Points Kong's balancer at the target. Kong decided at routing, from the
 * Service's host, whether to resolve it; set_target changes the host alone, so
 * a Service declared by IP address would have the Azure host name used as an
 * address. The kind is set to the target's own.
 */
function set_target(target: ParsedUrl): void {
  kong.service.set_target(target.host, target.port);
  const balancer_data = ngx.ctx.get("balancer_data");
  if (type(balancer_data) === "table") {
    (balancer_data as LuaTable<string, unknown>).set("type", host_kind(target.host));
  }
}


function point_at_azure(conf: PluginConfig, auth: AuthConfig): void {
  const upstream = upstream_of(conf, auth);
  kong.service.request.set_scheme(upstream.target.scheme);
  set_target(upstream.target);
  if (upstream.path !== undefined) {
    kong.service.request.set_path(upstream.path);
  }
  const client_query = kong.request.get_raw_query();
  kong.service.request.set_raw_query(
    client_query === "" ? upstream.query_alone : upstream_query(upstream.target, conf, auth, client_query),
  );
}


function content_length(): number | undefined {
  const header = kong.request.get_header("Content-Length");
  return header === undefined ? undefined : tonumber(header);
}


interface ShapedBody {
  body: JsonObject;
  /** Whether it differs from what the client sent. */
  changed: boolean;
}


/**
 * Reads, checks and completes an OpenAI-format body; exits for bodies Azure
 * must not get. Encoding waits until every change is made.
 */
function shape_body(conf: PluginConfig, auth: AuthConfig): ShapedBody {
  const declared = content_length();
  if (declared !== undefined && declared > conf.max_request_body_size) {
    return fail(413, `request body is larger than ${conf.max_request_body_size} bytes`);
  }
  const [raw, read_err] = read_body(conf);
  if (raw === undefined) {
    if (string.find(read_err, "too big", 1, true)[0] !== undefined) {
      return fail(413, `request body is larger than ${conf.max_request_body_size} bytes`);
    }
    kong.log.err(
      "failed to read the request body: ", read_err,
      " (Kong before 3.8 cannot read a body over nginx_http_client_body_buffer_size:",
      " set it to at least max_request_body_size, ", conf.max_request_body_size, " bytes)",
    );
    return fail(500, "the gateway could not read the request body");
  }
  if (raw.length > conf.max_request_body_size) {
    return fail(413, `request body is larger than ${conf.max_request_body_size} bytes`);
  }

  const [decoded] = body_json.decode(raw);
  if (!is_object(decoded) || is_array(decoded)) {
    return fail(400, "request body must be a JSON object");
  }
  const body = decoded;
  let changed = false;

  const requested_model = body.get("model");
  if (requested_model !== undefined && typeof requested_model !== "string") {
    return fail(400, "model must be a string");
  }
  if (conf.model.name !== undefined && requested_model !== undefined && requested_model !== conf.model.name) {
    return fail(400, `model '${requested_model}' is not served here: this route serves '${conf.model.name}'`);
  }
  if (requested_model !== undefined) {
    request_state.get().request_model = requested_model;
  }

  // The v1 API finds the deployment by the body's model.
  const deployment = conf.model.options.azure_deployment_id;
  if (conf.model.options.azure_api_style === "v1" && requested_model !== deployment) {
    body.set("model", deployment);
    changed = true;
  }

  if (conf.route_type !== "llm/v1/embeddings") {
    const stream = body.get("stream");
    if (stream === true && conf.response_streaming === "deny") {
      return fail(400, "streaming is not allowed on this route");
    }
    if (stream !== true && conf.response_streaming === "always") {
      body.set("stream", true);
      changed = true;
    }

    const options = conf.model.options;
    const defaults: [string, number | undefined][] = [
      ["max_tokens", options.max_tokens],
      ["temperature", options.temperature],
      ["top_p", options.top_p],
    ];
    for (const [name, value] of defaults) {
      if (value !== undefined && body.get(name) === undefined) {
        body.set(name, value);
        changed = true;
      }
    }
  }

  if (auth.param_location === "body" && auth.param_name !== undefined && auth.param_value !== undefined) {
    if (!(auth.allow_override && body.get(auth.param_name) !== undefined)) {
      body.set(auth.param_name, auth.param_value);
      changed = true;
    }
  }

  return { body, changed };
}


function send_body(body: JsonObject): void {
  const [encoded, encode_err] = body_json.encode(body);
  if (encoded === undefined) {
    kong.log.err("failed to encode the request body: ", encode_err);
    return fail(500, "ai-proxy-azure failed to prepare the request body");
  }
  kong.service.request.set_raw_body(encoded);
}


function client_sent_credential(auth: AuthConfig): boolean {
  if (auth.header_name !== undefined) {
    return kong.request.get_header(auth.header_name) !== undefined;
  }
  if (auth.param_name !== undefined) {
    // The parameter itself was handled with the query or the body.
    return false;
  }
  return CLIENT_CREDENTIAL_HEADERS.some((name) => kong.request.get_header(name) !== undefined);
}


function token_source(conf: PluginConfig, auth: AuthConfig): TokenSource {
  const known = sources.get(conf);
  if (known !== undefined) {
    return known;
  }
  const resource = token_resource(auth, conf.model.options);
  const [source, select_err] = select_source(auth, resource, {
    timeout_ms: math.min(IDENTITY_TIMEOUT_MS, auth.token_wait_timeout * 1000),
    authority_host: cloud_of(conf.model.options).authority_host,
  });
  if (source === undefined) {
    kong.log.err(select_err);
    return fail(500, `ai-proxy-azure is misconfigured: ${select_err}`);
  }
  sources.set(conf, source);
  announce(source, resource);
  return source;
}


/**
 * The client's message, and the log's. The token cache logs each failed
 * fetch with its detail once; a request only says which message it got.
 */
function describe(error: TokenError | string): LuaMultiReturn<[string, string]> {
  if (typeof error === "string") {
    return $multi("the token request did not complete", error);
  }
  return $multi(error.message, `${error.message} (${error.kind})`);
}


function sign_with_identity(conf: PluginConfig, auth: AuthConfig): void {
  const source = token_source(conf, auth);
  const [token, error] = token_cache.get_token(source, auth.token_wait_timeout);
  if (token === undefined) {
    const [message, detail] = describe(error);
    kong.log.err("failed to authenticate the request with ", source.label, " for ", source.identity, ": ", detail);
    observability.identity_used(conf, source, message);
    return fail(500, `failed to authenticate with Azure OpenAI: ${message}`);
  }
  kong.log.debug("signing the request with the token of ", source.label, " for ", source.identity);
  observability.identity_used(conf, source);
  const current = request_state.get();
  current.token = token.access_token;
  current.source = source;
  kong.service.request.set_header("Authorization", `Bearer ${token.access_token}`);
}


function authenticate(conf: PluginConfig, auth: AuthConfig): void {
  if (auth.allow_override && client_sent_credential(auth)) {
    return;
  }
  for (const name of CLIENT_CREDENTIAL_HEADERS) {
    kong.service.request.clear_header(name);
  }
  if (auth.azure_use_managed_identity) {
    return sign_with_identity(conf, auth);
  }
  if (auth.header_name !== undefined && auth.header_value !== undefined) {
    kong.service.request.set_header(auth.header_name, auth.header_value);
  }
}


const handler = {
  PRIORITY,
  VERSION,

  access(this: KongPluginHandler, conf: PluginConfig): void {
    const auth = conf.auth ?? NO_AUTH;
    observability.request_received(conf);

    // preserve passes the client's body on as it is.
    const shaped = conf.route_type === "preserve" ? undefined : shape_body(conf, auth);

    point_at_azure(conf, auth);
    authenticate(conf, auth);
    const asked_for_usage = observability.request_ready(conf, shaped?.body);
    if (shaped !== undefined && (shaped.changed || asked_for_usage)) {
      send_body(shaped.body);
    }
  },

  header_filter(this: KongPluginHandler, conf: PluginConfig): void {
    kong.response.clear_header("Set-Cookie");

    const current = request_state.peek();
    if (current?.source !== undefined && current.token !== undefined && kong.service.response.get_status() === 401) {
      token_cache.evict(current.source, current.token, (conf.auth ?? NO_AUTH).token_wait_timeout);
      kong.log.warn("Azure OpenAI refused the token of ", current.source.label, "; it is dropped from the cache");
    }

    const model = conf.model.name ?? current?.request_model;
    if (conf.model_name_header && model !== undefined) {
      kong.response.set_header("X-Kong-LLM-Model", `azure/${model}`);
    }
    observability.response_started(conf);
  },

  body_filter(this: KongPluginHandler, conf: PluginConfig): void {
    observability.response_chunk(conf);
  },

  log(this: KongPluginHandler, conf: PluginConfig): void {
    observability.write(conf, request_state.peek()?.request_model);
  },
};


export = handler;
