// Helpers every token source shares: reading JSON answers, building errors
// that are safe to show, and reading Retry-After.

import * as cjson from "cjson.safe";
import type { HttpResponse } from "../http";
import type { ParsedUrl } from "../url";
import type { TokenError, TokenErrorKind } from "./types";


// Longest piece of an endpoint's error description that goes into a log line.
const MAX_DESCRIPTION_LENGTH = 200;

// Characters a bearer token may hold (RFC 6750 b64token); anything else could
// break the Authorization header it goes into.
const TOKEN_PATTERN = "^[%w%-%._~%+/]+=*$";


/** True for JSON objects (and arrays, which Lua cannot tell apart from them). */
function is_table(value: JsonValue | undefined): value is JsonObject {
  return type(value) === "table";
}


/** True for JSON arrays (and objects: a Lua table is both). */
function is_list(value: JsonValue | undefined): value is JsonArray {
  return type(value) === "table";
}


/** A JSON object from a response body, or undefined when the body is not one. */
export function decode_object(body: string): JsonObject | undefined {
  const [value] = cjson.decode(body);
  return is_table(value) ? value : undefined;
}


export function string_field(object: JsonObject, name: string): string | undefined {
  const value = object.get(name);
  return typeof value === "string" ? value : undefined;
}


/** A whole number sent as a JSON number or as a string of digits. */
export function integer_field(object: JsonObject, name: string): number | undefined {
  const value = object.get(name);
  if (typeof value === "number") {
    return value === math.floor(value) ? value : undefined;
  }
  if (typeof value === "string" && string.find(value, "^%d+$")[0] !== undefined) {
    return tonumber(value);
  }
  return undefined;
}


/** The first number of a JSON array field, such as Entra's error_codes. */
export function first_number(object: JsonObject, name: string): number | undefined {
  const value = object.get(name);
  if (!is_list(value)) {
    return undefined;
  }
  const first = value.get(1);
  return typeof first === "number" ? first : undefined;
}


/** Whether an access token can go into an Authorization header as it is. */
export function is_bearer_token(value: string | undefined): value is string {
  return value !== undefined && string.find(value, TOKEN_PATTERN)[0] !== undefined;
}


/** An error code fit to repeat to a client: a short word such as "invalid_client". */
export function safe_code(code: string | undefined): string | undefined {
  if (code === undefined || code.length > 64 || string.find(code, "^[%w_]+$")[0] === undefined) {
    return undefined;
  }
  return code;
}


/** Text with every occurrence of each secret replaced, for log lines built from an answer. */
export function redact(text: string, secrets: ReadonlyArray<string>): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length > 0) {
      let position = 1;
      while (true) {
        const [start, finish] = string.find(result, secret, position, true);
        if (start === undefined || finish === undefined) {
          break;
        }
        result = `${string.sub(result, 1, start - 1)}[redacted]${string.sub(result, finish + 1)}`;
        position = start + "[redacted]".length;
      }
    }
  }
  return result;
}


/** The first line of a description, shortened for a log line. */
export function first_line(text: string): string {
  const [line] = string.match(text, "^[^\r\n]*");
  const trimmed = string.match(line ?? "", "^%s*(.-)%s*$")[0] ?? "";
  if (trimmed.length > MAX_DESCRIPTION_LENGTH) {
    return `${string.sub(trimmed, 1, MAX_DESCRIPTION_LENGTH)}...`;
  }
  return trimmed;
}


/**
 * Seconds to wait before asking again, from Retry-After (seconds) or
 * retry-after-ms / x-ms-retry-after-ms. An HTTP-date Retry-After is ignored.
 */
export function retry_after_seconds(headers: LuaTable<string, string>): number | undefined {
  const seconds = headers.get("retry-after");
  if (seconds !== undefined && string.find(seconds, "^%s*%d+%s*$")[0] !== undefined) {
    return tonumber(string.match(seconds, "%d+")[0]);
  }
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const milliseconds = headers.get(name);
    if (milliseconds !== undefined && string.find(milliseconds, "^%s*%d+%s*$")[0] !== undefined) {
      return math.ceil((tonumber(string.match(milliseconds, "%d+")[0]) ?? 0) / 1000);
    }
  }
  return undefined;
}


/** Host, with the port when it is not the scheme's default. */
export function host_of(url: ParsedUrl): string {
  const default_port = url.scheme === "https" ? 443 : 80;
  return url.port === default_port ? url.host : `${url.host}:${url.port}`;
}


/** Statuses that say "ask again later" for any token endpoint. */
export function is_transient_status(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}


export function token_error(
  kind: TokenErrorKind,
  source: string,
  message: string,
  detail: string,
  response?: HttpResponse,
  code?: string,
): TokenError {
  return {
    kind,
    source,
    message,
    detail,
    code,
    status: response?.status,
    retry_after: response === undefined ? undefined : retry_after_seconds(response.headers),
  };
}


/** Whether an HTTP client reason says the connection itself could not be made. */
export function is_connect_failure(reason: string): boolean {
  return string.find(reason, "^failed to connect")[0] !== undefined;
}


/** Whether an HTTP client reason says that time ran out. */
export function is_timeout(reason: string): boolean {
  return string.find(reason, "timeout$")[0] !== undefined;
}
