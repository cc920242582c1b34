// A small HTTP/1.1 client over OpenResty cosockets, for the identity
// endpoints: one request per connection, TLS verified against
// lua_ssl_trusted_certificate, one deadline for the whole exchange and a cap
// on the response body.
//
// request() yields, so it may run only where cosockets do: rewrite, access,
// content and timers (not init, header_filter, body_filter or log). The
// parsing below it takes any object with receive() and settimeout(), so specs
// drive it with canned responses and no nginx.

import { parse_url, type ParsedUrl } from "./url";


const USER_AGENT = "kong-plugin-ai-proxy-azure/0.1.0";

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

const MAX_HEADER_LINES = 100;

const READ_BLOCK_BYTES = 8192;

// A chunk size longer than this many hex digits could not fit under any cap.
const MAX_CHUNK_SIZE_DIGITS = 8;

// Framing headers belong to the client; a caller's copy would contradict them.
const FRAMING_HEADERS: Record<string, true> = {
  host: true,
  connection: true,
  "content-length": true,
  "transfer-encoding": true,
};


export interface HttpRequest {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** For the whole exchange: connecting, the TLS handshake, sending and reading. */
  timeout_ms: number;
  /** For connecting alone; the smaller of this and timeout_ms applies. */
  connect_timeout_ms?: number;
  /** Defaults to 64 KiB. */
  max_body_bytes?: number;
}

export interface HttpResponse {
  status: number;
  /** Names in lower case; repeated headers joined with ", ". */
  headers: LuaTable<string, string>;
  body: string;
}

/** What reading a response needs of a socket: an ngx cosocket, or a fake in specs. */
export interface ResponseSocket {
  receive(
    this: ResponseSocket,
    pattern: "*l" | number,
  ): LuaMultiReturn<[string] | [undefined, string, string | undefined]>;
  settimeout(this: ResponseSocket, timeout_ms: number): void;
}

/** Milliseconds left before the deadline; zero or less once it has passed. */
export type RemainingTime = () => number;


/** Percent-encodes everything but unreserved characters, as encodeURIComponent does. */
export function url_encode(value: string): string {
  const [encoded] = string.gsub(value, "[^%w%-_%.!~%*'%(%)]", (character: string) =>
    string.format("%%%02X", string.byte(character)),
  );
  return encoded;
}


/** name=value pairs joined with "&", in the order given: a query or a form body. */
export function encode_fields(fields: ReadonlyArray<readonly [string, string]>): string {
  const parts: string[] = [];
  for (const [name, value] of fields) {
    parts.push(`${url_encode(name)}=${url_encode(value)}`);
  }
  return parts.join("&");
}


/** Header names in a stable order, so that a request's bytes do not depend on table order. */
function sorted_names(headers: Record<string, string>): string[] {
  const names: string[] = [];
  for (const [name] of pairs(headers)) {
    names.push(name);
  }
  table.sort(names);
  return names;
}


function default_port(target: ParsedUrl): boolean {
  return (target.scheme === "http" && target.port === 80) || (target.scheme === "https" && target.port === 443);
}


/** The request's bytes: request line, headers, blank line and body. */
export function build_request(
  method: HttpRequest["method"],
  target: ParsedUrl,
  headers: Record<string, string> | undefined,
  body: string | undefined,
): LuaMultiReturn<[string] | [undefined, string]> {
  const target_path = target.query === "" ? target.path : `${target.path}?${target.query}`;
  const lines = [
    `${method} ${target_path} HTTP/1.1`,
    `Host: ${default_port(target) ? target.host : `${target.host}:${target.port}`}`,
    "Connection: close",
  ];
  if (body !== undefined || method === "POST") {
    lines.push(`Content-Length: ${(body ?? "").length}`);
  }

  const extra = headers ?? {};
  let user_agent_set = false;
  for (const name of sorted_names(extra)) {
    const value = extra[name];
    if (string.find(name, "^[%w!#$%%&'*+.^_`|~-]+$")[0] === undefined) {
      return $multi(undefined, `failed to build the request: bad header name ${name}`);
    }
    if (string.find(value, "[%z\r\n]")[0] !== undefined) {
      return $multi(undefined, `failed to build the request: header ${name} has a control character`);
    }
    const lower = string.lower(name);
    if (FRAMING_HEADERS[lower] === undefined) {
      lines.push(`${name}: ${value}`);
      user_agent_set ||= lower === "user-agent";
    }
  }
  if (!user_agent_set) {
    lines.push(`User-Agent: ${USER_AGENT}`);
  }

  return $multi(`${lines.join("\r\n")}\r\n\r\n${body ?? ""}`);
}


/** The status code of a line such as "HTTP/1.1 200 OK". */
export function parse_status_line(line: string): LuaMultiReturn<[number] | [undefined, string]> {
  const [status_text] = string.match(line, "^HTTP/1%.[01] (%d%d%d)");
  if (status_text === undefined) {
    return $multi(undefined, "failed to parse the status line");
  }
  return $multi(tonumber(status_text) ?? 0);
}


/** A header line's name, in lower case, and its value without surrounding blanks. */
export function parse_header_line(line: string): LuaMultiReturn<[string, string] | [undefined, string]> {
  const [name, value] = string.match(line, "^([^%s:]+):[ \t]*(.-)[ \t]*$");
  if (name === undefined || value === undefined) {
    return $multi(undefined, "failed to parse a response header");
  }
  return $multi(string.lower(name), value);
}


/** The size a chunk-size line announces; chunk extensions are ignored. */
export function parse_chunk_size(line: string): LuaMultiReturn<[number] | [undefined, string]> {
  const [digits] = string.match(line, "^[ \t]*(%x+)[ \t]*;?.*$");
  if (digits === undefined || digits.length > MAX_CHUNK_SIZE_DIGITS) {
    return $multi(undefined, "failed to parse a chunk size");
  }
  return $multi(tonumber(digits, 16) ?? 0);
}


/** Sets a socket's timeout to what is left of the deadline; false once it has passed. */
function arm(socket: ResponseSocket, remaining_ms: RemainingTime): boolean {
  const left = remaining_ms();
  if (left <= 0) {
    return false;
  }
  socket.settimeout(left);
  return true;
}


function receive(
  socket: ResponseSocket,
  remaining_ms: RemainingTime,
  pattern: "*l" | number,
): LuaMultiReturn<[string] | [undefined, string, string | undefined]> {
  if (!arm(socket, remaining_ms)) {
    return $multi(undefined, "timeout", undefined);
  }
  return socket.receive(pattern);
}


function too_large(max_body_bytes: number): LuaMultiReturn<[undefined, string]> {
  return $multi(undefined, `failed to read the response body: response larger than ${max_body_bytes} bytes`);
}


function read_headers(
  socket: ResponseSocket,
  remaining_ms: RemainingTime,
): LuaMultiReturn<[LuaTable<string, string>] | [undefined, string]> {
  const headers = new LuaTable<string, string>();
  for (let count = 0; count <= MAX_HEADER_LINES; count++) {
    const [line, err] = receive(socket, remaining_ms, "*l");
    if (line === undefined) {
      return $multi(undefined, `failed to read the response headers: ${err}`);
    }
    if (line === "") {
      return $multi(headers);
    }
    const [name, value] = parse_header_line(line);
    if (name === undefined) {
      return $multi(undefined, value);
    }
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return $multi(undefined, `failed to read the response headers: more than ${MAX_HEADER_LINES}`);
}


function read_chunked(
  socket: ResponseSocket,
  remaining_ms: RemainingTime,
  max_body_bytes: number,
): LuaMultiReturn<[string] | [undefined, string]> {
  const chunks: string[] = [];
  let total = 0;
  while (true) {
    const [size_line, size_err] = receive(socket, remaining_ms, "*l");
    if (size_line === undefined) {
      return $multi(undefined, `failed to read the response body: ${size_err}`);
    }
    const [size, parse_err] = parse_chunk_size(size_line);
    if (size === undefined) {
      return $multi(undefined, parse_err);
    }
    if (size === 0) {
      break;
    }
    total += size;
    if (total > max_body_bytes) {
      return too_large(max_body_bytes);
    }
    const [data, data_err] = receive(socket, remaining_ms, size);
    if (data === undefined) {
      return $multi(undefined, `failed to read the response body: ${data_err}`);
    }
    chunks.push(data);
    const [chunk_end, end_err] = receive(socket, remaining_ms, "*l");
    if (chunk_end !== "") {
      return $multi(undefined, `failed to read the response body: ${end_err ?? "bad chunk end"}`);
    }
  }

  // Trailer fields, which nothing here needs, end with a blank line.
  for (let count = 0; count <= MAX_HEADER_LINES; count++) {
    const [trailer, trailer_err] = receive(socket, remaining_ms, "*l");
    if (trailer === undefined) {
      return $multi(undefined, `failed to read the response body: ${trailer_err}`);
    }
    if (trailer === "") {
      return $multi(chunks.join(""));
    }
  }
  return $multi(undefined, "failed to read the response body: too many trailer lines");
}


function read_until_close(
  socket: ResponseSocket,
  remaining_ms: RemainingTime,
  max_body_bytes: number,
): LuaMultiReturn<[string] | [undefined, string]> {
  const blocks: string[] = [];
  let total = 0;
  while (true) {
    // One byte past the cap tells a body at the cap from a larger one.
    const wanted = math.min(READ_BLOCK_BYTES, max_body_bytes - total + 1);
    const [block, err, partial] = receive(socket, remaining_ms, wanted);
    const received = block ?? partial ?? "";
    total += received.length;
    if (total > max_body_bytes) {
      return too_large(max_body_bytes);
    }
    blocks.push(received);
    if (block === undefined) {
      if (err === "closed") {
        return $multi(blocks.join(""));
      }
      return $multi(undefined, `failed to read the response body: ${err}`);
    }
  }
}


function read_body(
  socket: ResponseSocket,
  remaining_ms: RemainingTime,
  status: number,
  headers: LuaTable<string, string>,
  max_body_bytes: number,
): LuaMultiReturn<[string] | [undefined, string]> {
  if (status === 204 || status === 304) {
    return $multi("");
  }

  const transfer_encoding = headers.get("transfer-encoding");
  if (transfer_encoding !== undefined) {
    if (string.find(string.lower(transfer_encoding), "chunked%s*$")[0] === undefined) {
      return $multi(undefined, `failed to read the response body: unsupported transfer-encoding ${transfer_encoding}`);
    }
    return read_chunked(socket, remaining_ms, max_body_bytes);
  }

  const content_length = headers.get("content-length");
  if (content_length === undefined) {
    return read_until_close(socket, remaining_ms, max_body_bytes);
  }
  const [length_text] = string.match(content_length, "^(%d+)$");
  const length = length_text === undefined ? undefined : tonumber(length_text);
  if (length === undefined) {
    return $multi(undefined, "failed to read the response body: bad content-length");
  }
  if (length > max_body_bytes) {
    return too_large(max_body_bytes);
  }
  if (length === 0) {
    return $multi("");
  }
  const [body, err] = receive(socket, remaining_ms, length);
  if (body === undefined) {
    return $multi(undefined, `failed to read the response body: ${err}`);
  }
  return $multi(body);
}


/**
 * Reads one response: status line, headers and a body framed by
 * Content-Length, chunked transfer-encoding, or the end of the connection.
 * Informational (1xx) responses before it are skipped.
 */
export function read_response(
  socket: ResponseSocket,
  remaining_ms: RemainingTime,
  max_body_bytes: number,
): LuaMultiReturn<[HttpResponse] | [undefined, string]> {
  while (true) {
    const [status_line, line_err] = receive(socket, remaining_ms, "*l");
    if (status_line === undefined) {
      return $multi(undefined, `failed to read the status line: ${line_err}`);
    }
    const [status, status_err] = parse_status_line(status_line);
    if (status === undefined) {
      return $multi(undefined, status_err);
    }

    const [headers, headers_err] = read_headers(socket, remaining_ms);
    if (headers === undefined) {
      return $multi(undefined, headers_err);
    }

    if (status >= 200) {
      const [body, body_err] = read_body(socket, remaining_ms, status, headers, max_body_bytes);
      if (body === undefined) {
        return $multi(undefined, body_err);
      }
      return $multi({ status, headers, body });
    }
  }
}


function exchange(
  socket: NgxTcpSocket,
  req: HttpRequest,
  target: ParsedUrl,
  payload: string,
): LuaMultiReturn<[HttpResponse] | [undefined, string]> {
  ngx.update_time();
  const deadline = ngx.now() + req.timeout_ms / 1000;
  const remaining_ms: RemainingTime = () => {
    ngx.update_time();
    return math.floor((deadline - ngx.now()) * 1000);
  };

  socket.settimeout(math.max(1, math.min(req.connect_timeout_ms ?? req.timeout_ms, req.timeout_ms)));
  const [connected, connect_err] = socket.connect(target.host, target.port);
  if (connected === undefined) {
    return $multi(undefined, `failed to connect to ${target.host}:${target.port}: ${connect_err}`);
  }

  if (target.scheme === "https") {
    if (!arm(socket, remaining_ms)) {
      return $multi(undefined, `failed to complete the TLS handshake with ${target.host}: timeout`);
    }
    const [verified, tls_err] = socket.sslhandshake(undefined, target.host, true);
    if (verified === undefined) {
      return $multi(undefined, `failed to complete the TLS handshake with ${target.host}: ${tls_err}`);
    }
  }

  if (!arm(socket, remaining_ms)) {
    return $multi(undefined, "failed to send the request: timeout");
  }
  const [sent, send_err] = socket.send(payload);
  if (sent === undefined) {
    return $multi(undefined, `failed to send the request: ${send_err}`);
  }

  return read_response(socket, remaining_ms, req.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES);
}


/**
 * Sends one request and reads its response, on a fresh connection that is
 * closed afterwards. Failures come back as reasons such as
 * "failed to connect to host:port: connection refused" or
 * "failed to read the status line: timeout".
 */
export function request(req: HttpRequest): LuaMultiReturn<[HttpResponse] | [undefined, string]> {
  const [target, url_err] = parse_url(req.url);
  if (target === undefined) {
    return $multi(undefined, url_err);
  }
  const [payload, build_err] = build_request(req.method, target, req.headers, req.body);
  if (payload === undefined) {
    return $multi(undefined, build_err);
  }

  const socket = ngx.socket.tcp();
  const [response, err] = exchange(socket, req, target, payload);
  socket.close();
  if (response === undefined) {
    return $multi(undefined, err);
  }
  return $multi(response);
}
