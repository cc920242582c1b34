// Managed identity on Azure Arc-enabled servers, through the Arc agent's
// local metadata service (himds).
//
// The agent answers a first request with 401 and a challenge naming a key
// file that only privileged local users may read; the caller proves it is one
// by sending the file's contents as Basic credentials in a second request.
// Before reading, the named file is checked: in the agent's token directory,
// a ".key" name, at most 4096 bytes. Otherwise anything that can answer on
// the endpoint's port could make us read and send any file on the host.
//
// Based on Microsoft's "Authenticate against Azure resources with Azure
// Arc-enabled servers" (api-version 2020-06-01). Not tried on a real Arc host.

import * as http from "../http";
import { token_error } from "./common";
import {
  endpoint_host_of,
  read_answer,
  token_query,
  transport_error,
  with_query,
  type EndpointContext,
} from "./managed_identity";
import type { Token, TokenError, TokenSource } from "./types";


const SOURCE = "managed identity (Azure Arc)";

const API_VERSION = "2020-06-01";

/** Where the agent on Linux writes its key files. */
export const ARC_TOKENS_DIRECTORY = "/var/opt/azcmagent/tokens/";

/** The agent's endpoint when only the himds executable shows that Arc is installed. */
export const DEFAULT_ARC_ENDPOINT = "http://127.0.0.1:40342/metadata/identity/oauth2/token";

const MAX_KEY_BYTES = 4096;

// A key file's name: the agent uses a GUID; nothing that could leave the directory.
const KEY_NAME_PATTERN = "^[%w][%w%-_.]*%.key$";


/** The key file a 401 challenge names, after the checks; or why it is refused. */
export function challenge_key_path(
  www_authenticate: string | undefined,
  tokens_directory: string,
): LuaMultiReturn<[string] | [undefined, string]> {
  if (www_authenticate === undefined) {
    return $multi(undefined, "failed to read the challenge: no WWW-Authenticate header");
  }
  const [realm] = string.match(www_authenticate, "[Bb]asic%s+realm=(.*)$");
  if (realm === undefined) {
    return $multi(undefined, "failed to read the challenge: it is not 'Basic realm=<key file>'");
  }
  const [path] = string.match(realm, '^%s*"?(.-)"?%s*$');
  const [directory, name] = string.match(path ?? "", "^(.*/)([^/]*)$");
  if (directory === undefined || name === undefined || string.find(name, KEY_NAME_PATTERN)[0] === undefined) {
    return $multi(undefined, "failed to accept the challenge: the file it names is not a .key file");
  }
  if (directory !== tokens_directory) {
    return $multi(undefined, `failed to accept the challenge: the key file is not in ${tokens_directory}`);
  }
  return $multi(`${directory}${name}`);
}


/** The key file's contents, as the Basic credentials of the second request. */
export function read_key_file(path: string): LuaMultiReturn<[string] | [undefined, string]> {
  const [file, open_err] = io.open(path, "rb");
  if (file === undefined) {
    return $multi(undefined, `failed to open the key file: ${open_err}`);
  }
  const content = file.read(MAX_KEY_BYTES + 1);
  file.close();
  if (content === undefined || content === "") {
    return $multi(undefined, "failed to read the key file: it is empty");
  }
  if (content.length > MAX_KEY_BYTES) {
    return $multi(undefined, `failed to read the key file: larger than ${MAX_KEY_BYTES} bytes`);
  }
  // It goes into a header: a line break would end the header early.
  if (string.find(content, "[\r\n]")[0] !== undefined) {
    return $multi(undefined, "failed to read the key file: it holds a line break");
  }
  return $multi(content);
}


export function build_arc_request(
  endpoint: string,
  resource: string,
  key: string | undefined,
  timeout_ms: number,
): http.HttpRequest {
  const headers: Record<string, string> = { Metadata: "true" };
  if (key !== undefined) {
    headers.Authorization = `Basic ${key}`;
  }
  return { method: "GET", url: with_query(endpoint, token_query(API_VERSION, resource)), headers, timeout_ms };
}


/**
 * The Arc agent's token for the machine's identity. As the Azure SDKs do,
 * "localhost" in the endpoint becomes 127.0.0.1, so that an IPv6 answer for
 * localhost cannot send the request elsewhere.
 */
export function arc_source(
  configured_endpoint: string,
  tokens_directory: string,
  resource: string,
  timeout_ms: number,
): LuaMultiReturn<[TokenSource] | [undefined, string]> {
  const [endpoint] = string.gsub(configured_endpoint, "localhost", "127.0.0.1", 1);
  const [endpoint_host, err] = endpoint_host_of(endpoint, "IDENTITY_ENDPOINT");
  if (endpoint_host === undefined) {
    return $multi(undefined, err);
  }
  const context: EndpointContext = {
    source: SOURCE,
    service: "the Azure Arc agent",
    endpoint_host,
    secrets: [],
  };

  const refused = (reason: string): TokenError =>
    token_error("refused", SOURCE, `${SOURCE} refused: its key file challenge failed the checks`, reason);

  return $multi({
    kind: "arc",
    label: SOURCE,
    cache_key: `arc|${endpoint}|system-assigned|${resource}`,
    identity: "system-assigned",
    endpoint_host,
    fetch: (): LuaMultiReturn<[Token] | [undefined, TokenError]> => {
      const [challenge, reason] = http.request(build_arc_request(endpoint, resource, undefined, timeout_ms));
      if (challenge === undefined) {
        return $multi(undefined, transport_error(reason, context));
      }
      if (challenge.status !== 401) {
        return read_answer(challenge, ngx.time(), context);
      }

      const [path, path_err] = challenge_key_path(challenge.headers.get("www-authenticate"), tokens_directory);
      if (path === undefined) {
        return $multi(undefined, refused(`the Azure Arc agent at ${endpoint_host}: ${path_err}`));
      }
      const [key, key_err] = read_key_file(path);
      if (key === undefined) {
        const detail = `the Azure Arc agent at ${endpoint_host} named ${path}: ${key_err}`;
        return $multi(
          undefined,
          token_error(
            "unavailable",
            SOURCE,
            `${SOURCE} is unavailable: the agent's key file cannot be read (is Kong's user in the himds group?)`,
            detail,
          ),
        );
      }

      const keyed: EndpointContext = { ...context, secrets: [key] };
      const [response, second_reason] = http.request(build_arc_request(endpoint, resource, key, timeout_ms));
      if (response === undefined) {
        return $multi(undefined, transport_error(second_reason, keyed));
      }
      return read_answer(response, ngx.time(), keyed);
    },
  });
}
