// What the plugin adds to Kong's serialized request log, where Kong's log
// plugins (file-log, http-log, tcp-log, udp-log, syslog) and Prometheus's AI
// metrics read it.
//
// The layout is the one Kong 3.9's ai-proxy writes (the newest open-source
// Kong, the Dockerfile's default; kong/llm/plugin/shared-filters/
// serialize-analytics.lua at 3.9.1): ai.proxy.meta, ai.proxy.usage,
// ai.proxy.cache and ai.proxy.payload.{request,response}. Kong 3.8 put the
// same fields under ai.ai-proxy. Prometheus (3.8 and 3.9) reads every key
// under `ai`, and 3.8's needs `cache` to be there, so it is always written,
// empty.
//
// Phases: request_received and request_ready run in access,
// response_started in header_filter, response_chunk in body_filter (which may
// not yield), write in log. This plugin's priority (770) puts its log phase
// before every log plugin's.

import * as cjson from "cjson.safe";
import type { PluginConfig } from "./config";
import type { TokenSource } from "./identity/source";
import { is_object } from "./json";
import { read_body, request_scoped } from "./request_state";


const NAMESPACE = "ai.proxy";

/** Request and response bodies in the log are cut at this many bytes. */
export const PAYLOAD_LIMIT = 64 * 1024;

// What is kept of a body for the log: one byte more than goes into it, so
// that the cut can tell whether it falls inside a UTF-8 character.
const PAYLOAD_KEPT = PAYLOAD_LIMIT + 1;

// JSON answers larger than this are not decoded for usage: the memory and the
// decoding would cost more than the statistic is worth.
const MAX_INSPECTED_BODY = 8 * 1024 * 1024;

// An SSE event still incomplete after this many bytes is dropped from the
// parser's view (the client still gets it): a bound on what one stream holds.
const MAX_PENDING_EVENT = 1024 * 1024;

// Azure OpenAI accepts stream_options from this api-version on; older ones
// refuse the whole request (400, "Unrecognized request argument").
const STREAM_USAGE_SINCE = "2024-09-01";

// What Kong's serializer writes in place of an Authorization header.
const REDACTED = "REDACTED";


export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

/** What the answer says about itself. */
export interface ResponseFacts {
  model?: string;
  usage?: Usage;
}

/** An SSE body read piece by piece. */
export interface SseReader {
  /** The start of an event whose end has not arrived yet. */
  pending: string;
  facts: ResponseFacts;
  /** Drop the usage-only chunk from what the client gets (we asked for it, the client did not). */
  strip_usage: boolean;
}

/** Keeps the first `limit` bytes of a body and counts all of them. */
export interface Capture {
  pieces: string[];
  kept: number;
  total: number;
  limit: number;
}

// Type aliases, not interfaces, so that they count as KongSerializeTable.
export type Meta = {
  plugin_id?: string;
  provider_name: string;
  request_model: string;
  response_model: string;
  llm_latency?: number;
  azure_instance_id: string;
  azure_deployment_id: string;
  /** The api-version Azure got; absent for the v1 API when none was sent. */
  azure_api_version?: string;
};

export type UsageEntry = {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  time_per_token?: number;
};

export type IdentityEntry = {
  source: string;
  identity: string;
  endpoint_host: string;
  error?: string;
};

interface State {
  request_body?: string;
  request_body_size?: number;
  api_version?: string;
  started_at?: number;
  finished_at?: number;
  answered?: boolean;
  sse?: SseReader;
  body?: Capture;
  identity?: IdentityEntry;
}


const request_state = request_scoped<State>(() => ({}));
const get_state = request_state.get;


function number_field(object: JsonObject, name: string): number | undefined {
  const value = object.get(name);
  return typeof value === "number" ? value : undefined;
}


/** OpenAI-format usage, or undefined when the value is not a usage object. */
export function read_usage(value: JsonValue | undefined): Usage | undefined {
  if (!is_object(value)) {
    return undefined;
  }
  const usage: Usage = {
    prompt_tokens: number_field(value, "prompt_tokens"),
    completion_tokens: number_field(value, "completion_tokens"),
    total_tokens: number_field(value, "total_tokens"),
  };
  if (usage.prompt_tokens === undefined && usage.completion_tokens === undefined && usage.total_tokens === undefined) {
    return undefined;
  }
  return usage;
}


/** The model and usage of a JSON answer; empty when it is not one. */
export function json_facts(body: string): ResponseFacts {
  const [decoded] = cjson.decode(body);
  if (!is_object(decoded)) {
    return {};
  }
  const model = decoded.get("model");
  return { model: typeof model === "string" ? model : undefined, usage: read_usage(decoded.get("usage")) };
}


export function new_sse_reader(strip_usage: boolean): SseReader {
  return { pending: "", facts: {}, strip_usage };
}


/** The data of one SSE event: its `data:` lines joined, as the SSE format says. */
function event_data(event: string): string | undefined {
  let data: string | undefined;
  for (const [line] of string.gmatch(event, "[^\r\n]+")) {
    const [value] = string.match(line, "^data: ?(.*)$");
    if (value !== undefined) {
      data = data === undefined ? value : `${data}\n${value}`;
    }
  }
  return data;
}


/** Reads one complete event; true when it is the usage-only chunk. */
function read_event(reader: SseReader, event: string): boolean {
  const data = event_data(event);
  if (data === undefined || data === "[DONE]") {
    return false;
  }
  const [decoded] = cjson.decode(data);
  if (!is_object(decoded)) {
    return false;
  }
  const model = decoded.get("model");
  if (reader.facts.model === undefined && typeof model === "string" && model !== "") {
    reader.facts.model = model;
  }
  const usage = read_usage(decoded.get("usage"));
  if (usage === undefined) {
    return false;
  }
  reader.facts.usage = usage;
  const choices = decoded.get("choices");
  return is_object(choices) && next(choices)[0] === undefined;
}


/**
 * Feeds one piece of an SSE body, which may end anywhere, even inside a line.
 * Returns what the client gets for it: the piece itself, or, when the usage
 * chunk is stripped, the complete events other than that one (a partial event
 * waits for its end, and whatever is left goes out at eof).
 */
export function read_sse(reader: SseReader, piece: string, eof: boolean): string {
  const buffer = reader.pending + piece;
  const kept: string[] = [];
  let position = 1;
  for (;;) {
    const [start, finish] = string.find(buffer, "\r?\n\r?\n", position);
    if (start === undefined || finish === undefined) {
      break;
    }
    const event = string.sub(buffer, position, finish);
    if (!read_event(reader, string.sub(buffer, position, start - 1)) || !reader.strip_usage) {
      kept.push(event);
    }
    position = finish + 1;
  }
  const rest = string.sub(buffer, position);

  if (!reader.strip_usage) {
    reader.pending = eof || rest.length > MAX_PENDING_EVENT ? "" : rest;
    if (eof && rest !== "") {
      read_event(reader, rest);
    }
    return piece;
  }
  if (eof) {
    reader.pending = "";
    if (rest === "" || !read_event(reader, rest)) {
      kept.push(rest);
    }
    return kept.join("");
  }
  // Stripping holds a partial event back; past the bound it goes out unread.
  if (rest.length > MAX_PENDING_EVENT) {
    reader.pending = "";
    kept.push(rest);
  } else {
    reader.pending = rest;
  }
  return kept.join("");
}


export function new_capture(limit: number): Capture {
  return { pieces: [], kept: 0, total: 0, limit };
}


export function capture(into: Capture, piece: string): void {
  into.total += piece.length;
  if (into.kept < into.limit) {
    const taken = into.kept + piece.length <= into.limit ? piece : string.sub(piece, 1, into.limit - into.kept);
    into.pieces.push(taken);
    into.kept += taken.length;
  }
}


/**
 * The body as it goes into the log: whole up to `limit` bytes; past that cut
 * at a UTF-8 character boundary, with a marker that says it was cut and how
 * long the body was. `total` is the body's full size when `text` is already
 * only its start, which should then hold at least limit + 1 bytes.
 */
export function cut_payload(text: string, limit: number, total: number = text.length): string {
  if (total <= limit && text.length <= limit) {
    return text;
  }
  let length = math.min(limit, text.length);
  // 0x80-0xBF are continuation bytes: a cut before one splits a character.
  while (length > 0 && length < text.length) {
    const byte = string.byte(text, length + 1);
    if (byte < 0x80 || byte > 0xbf) {
      break;
    }
    length -= 1;
  }
  return `${string.sub(text, 1, length)}[cut by ai-proxy-azure: ${limit} of ${total} bytes logged]`;
}


/** Whether an api-version (YYYY-MM-DD, maybe -preview) accepts stream_options. */
export function accepts_stream_options(api_version: string | undefined): boolean {
  if (api_version === undefined) {
    return false;
  }
  const [date] = string.match(api_version, "^(%d%d%d%d%-%d%d%-%d%d)");
  return date !== undefined && date >= STREAM_USAGE_SINCE;
}


/** The usage entry, with time per token in whole milliseconds as Kong 3.8 writes it. */
export function usage_entry(usage: Usage | undefined, llm_latency: number | undefined): UsageEntry {
  if (usage === undefined) {
    return {};
  }
  const completion = usage.completion_tokens;
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: completion,
    total_tokens: usage.total_tokens,
    time_per_token:
      llm_latency !== undefined && completion !== undefined && completion > 0
        ? math.floor(llm_latency / completion)
        : undefined,
  };
}


export function meta_entry(
  conf: PluginConfig,
  request_model: string | undefined,
  facts: ResponseFacts,
  api_version: string | undefined,
  llm_latency: number | undefined,
): Meta {
  const requested = conf.model.name ?? request_model ?? "UNSPECIFIED";
  return {
    plugin_id: conf.__plugin_id,
    provider_name: conf.model.provider,
    request_model: requested,
    response_model: facts.model ?? requested,
    llm_latency,
    azure_instance_id: conf.model.options.azure_instance,
    azure_deployment_id: conf.model.options.azure_deployment_id,
    azure_api_version: api_version,
  };
}


/** The statistics as serialized-log keys and values, in the order they are set. */
export function statistics_entries(
  conf: PluginConfig,
  request_model: string | undefined,
  facts: ResponseFacts,
  api_version: string | undefined,
  llm_latency: number | undefined,
): [string, KongSerializeTable][] {
  return [
    [`${NAMESPACE}.meta`, meta_entry(conf, request_model, facts, api_version, llm_latency)],
    [`${NAMESPACE}.usage`, usage_entry(facts.usage, llm_latency)],
    [`${NAMESPACE}.cache`, {}],
  ];
}


function logging_on(conf: PluginConfig): boolean {
  return conf.logging.log_statistics || conf.logging.log_payloads;
}


/** Access, before the body is shaped: keeps the client's body for log_payloads. */
export function request_received(conf: PluginConfig): void {
  if (!conf.logging.log_payloads) {
    return;
  }
  const [raw] = read_body(conf);
  if (raw !== undefined) {
    const current = get_state();
    current.request_body = string.sub(raw, 1, PAYLOAD_KEPT);
    current.request_body_size = raw.length;
  }
}


/**
 * Access, once the request is signed and about to leave: notes the api-version
 * Azure gets and the time, asks Azure for the stream's usage chunk when the
 * client did not, and asks for an uncompressed answer (gzip cannot be read
 * here). `body` is the decoded body the handler sends (none on preserve
 * routes); returns whether this added to it.
 */
export function request_ready(conf: PluginConfig, body: JsonObject | undefined): boolean {
  if (!logging_on(conf)) {
    return false;
  }
  const current = get_state();
  // The query as set for Azure; the v1 API goes without an api-version.
  const query = ngx.vars.get("args") ?? "";
  const api_version = ngx.decode_args(query).get("api-version");
  current.api_version = typeof api_version === "string" ? api_version : undefined;
  kong.service.request.clear_header("Accept-Encoding");

  const v1 = conf.model.options.azure_api_style === "v1" && current.api_version === undefined;
  const asked =
    body !== undefined &&
    conf.logging.log_statistics &&
    (conf.route_type === "llm/v1/chat" || conf.route_type === "llm/v1/completions") &&
    (v1 || accepts_stream_options(current.api_version)) &&
    ask_for_stream_usage(current, body);
  ngx.update_time();
  current.started_at = ngx.now();
  return asked;
}


/** Adds stream_options.include_usage to a streamed body that lacks it; true when it did. */
function ask_for_stream_usage(current: State, body: JsonObject): boolean {
  if (body.get("stream") !== true) {
    return false;
  }
  const options = body.get("stream_options");
  if (is_object(options) && options.get("include_usage") !== undefined) {
    // The client chose; its stream stays as it asked.
    return false;
  }
  if (options !== undefined && !is_object(options)) {
    return false;
  }
  const changed: JsonObject = is_object(options) ? options : new LuaTable<string, JsonValue>();
  changed.set("include_usage", true);
  body.set("stream_options", changed);
  current.sse = new_sse_reader(true);
  return true;
}


/** Access: the identity that signed the request, or the one that failed to. */
export function identity_used(conf: PluginConfig, source: TokenSource, failure?: string): void {
  if (!conf.logging.log_statistics) {
    return;
  }
  const identity: IdentityEntry = { source: source.label, identity: source.identity, endpoint_host: source.endpoint_host };
  identity.error = failure;
  get_state().identity = identity;
}


/** Header filter: whether Azure answered, and how to read its body. */
export function response_started(conf: PluginConfig): void {
  if (!logging_on(conf)) {
    return;
  }
  const current = get_state();
  if (current.started_at === undefined || kong.service.response.get_status() === undefined) {
    return;
  }
  current.answered = true;
  const content_type = kong.response.get_header("Content-Type") ?? "";
  const streamed = string.find(string.lower(content_type), "text/event-stream", 1, true)[0] !== undefined;
  if (streamed) {
    current.sse ??= new_sse_reader(false);
    if (current.sse.strip_usage) {
      kong.response.clear_header("Content-Length");
    }
  } else {
    current.sse = undefined;
  }
  const inspect_json = conf.logging.log_statistics && !streamed;
  current.body = new_capture(inspect_json ? MAX_INSPECTED_BODY + 1 : conf.logging.log_payloads ? PAYLOAD_KEPT : 0);
}


/** Body filter: reads each piece as it passes; rewrites it only to strip the usage chunk. */
export function response_chunk(conf: PluginConfig): void {
  if (!logging_on(conf)) {
    return;
  }
  const current = get_state();
  if (current.answered !== true || current.body === undefined) {
    return;
  }
  const piece = ngx.arg[1] ?? "";
  const eof = ngx.arg[2];
  let sent = piece;
  if (current.sse !== undefined) {
    sent = read_sse(current.sse, piece, eof);
    if (current.sse.strip_usage) {
      ngx.arg[1] = sent;
    }
  }
  capture(current.body, sent);
  if (eof) {
    ngx.update_time();
    current.finished_at = ngx.now();
  }
}


/** A URI with one query parameter's value replaced by REDACTED. */
export function without_param(uri: string, name: string): string {
  const [path, query] = string.match(uri, "^([^?]*)%?(.*)$");
  if (path === undefined || query === undefined) {
    return uri;
  }
  const args = ngx.decode_args(query);
  if (args.get(name) === undefined) {
    return uri;
  }
  args.set(name, REDACTED);
  return `${path}?${ngx.encode_args(args)}`;
}


/**
 * Kong's serializer hides Authorization, not a static key this plugin puts
 * into the request: replace the key wherever the serialized log would show it.
 */
function hide_static_key(conf: PluginConfig): void {
  const auth = conf.auth;
  if (auth === undefined) {
    return;
  }
  if (auth.header_name !== undefined && auth.header_value !== undefined) {
    kong.log.set_serialize_value(`request.headers.${string.lower(auth.header_name)}`, REDACTED, { mode: "replace" });
  }
  if (auth.param_location === "query" && auth.param_name !== undefined && auth.param_value !== undefined) {
    kong.log.set_serialize_value(`request.querystring.${auth.param_name}`, REDACTED, { mode: "replace" });
    const upstream_uri = ngx.vars.get("upstream_uri");
    if (upstream_uri !== undefined) {
      kong.log.set_serialize_value("upstream_uri", without_param(upstream_uri, auth.param_name), { mode: "replace" });
    }
  }
}


/** Log: sets the statistics and payloads for Kong's log plugins. */
export function write(conf: PluginConfig, request_model: string | undefined): void {
  hide_static_key(conf);
  if (!logging_on(conf)) {
    return;
  }
  const current = get_state();

  if (conf.logging.log_statistics && current.identity !== undefined) {
    kong.log.set_serialize_value("ai-proxy-azure.identity", current.identity);
  }

  if (conf.logging.log_payloads && current.request_body !== undefined) {
    kong.log.set_serialize_value(
      `${NAMESPACE}.payload.request`,
      cut_payload(current.request_body, PAYLOAD_LIMIT, current.request_body_size),
    );
  }

  // Nothing about the model when Azure never answered: Kong's ai-proxy counts
  // only requests that reached the model.
  if (current.answered !== true || current.body === undefined) {
    return;
  }
  const body = current.body.pieces.join("");

  if (conf.logging.log_payloads) {
    kong.log.set_serialize_value(
      `${NAMESPACE}.payload.response`,
      cut_payload(string.sub(body, 1, PAYLOAD_KEPT), PAYLOAD_LIMIT, current.body.total),
    );
  }

  if (conf.logging.log_statistics) {
    let facts: ResponseFacts = {};
    if (current.sse !== undefined) {
      facts = current.sse.facts;
    } else if (current.body.total <= MAX_INSPECTED_BODY) {
      facts = json_facts(body);
    } else {
      kong.log.info("the answer is larger than ", MAX_INSPECTED_BODY, " bytes: its usage is not logged");
    }
    const llm_latency =
      current.started_at !== undefined && current.finished_at !== undefined
        ? math.floor((current.finished_at - current.started_at) * 1000)
        : undefined;
    for (const [key, value] of statistics_entries(conf, request_model, facts, current.api_version, llm_latency)) {
      kong.log.set_serialize_value(key, value);
    }
  }
}
