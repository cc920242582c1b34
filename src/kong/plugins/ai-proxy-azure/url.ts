// Splitting an absolute http(s) URL into the parts nginx needs for an upstream
// or a cosocket. Kong's schema has already checked that configured URLs parse.

export interface ParsedUrl {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** Always starts with "/". */
  path: string;
  /** Without the leading "?"; empty when there is none. */
  query: string;
}

const DEFAULT_PORTS = { http: 80, https: 443 };

/** Host (an IPv6 address keeps its brackets) and port digits, which may be empty. */
function split_authority(authority: string): LuaMultiReturn<[string, string] | [undefined, undefined]> {
  const pattern = string.sub(authority, 1, 1) === "[" ? "^(%[[^%]]+%]):?(%d*)$" : "^([^:]+):?(%d*)$";
  const [host, port_text] = string.match(authority, pattern);
  if (host === undefined || port_text === undefined) {
    return $multi(undefined, undefined);
  }
  return $multi(host, port_text);
}


/** Returns the URL's parts, or undefined and a reason. */
export function parse_url(url: string): LuaMultiReturn<[ParsedUrl] | [undefined, string]> {
  const [scheme_text, rest] = string.match(url, "^(%a[%w+.-]*)://(.*)$");
  if (scheme_text === undefined || rest === undefined) {
    return $multi(undefined, "failed to parse URL: not absolute");
  }

  const scheme = string.lower(scheme_text);
  if (scheme !== "http" && scheme !== "https") {
    return $multi(undefined, `failed to parse URL: unsupported scheme ${scheme}`);
  }

  const [authority, tail] = string.match(rest, "^([^/?#]*)(.*)$");
  if (authority === undefined || authority.length === 0 || string.find(authority, "@", 1, true)[0] !== undefined) {
    return $multi(undefined, "failed to parse URL: no host");
  }

  const [host, port_text] = split_authority(authority);
  if (host === undefined) {
    return $multi(undefined, "failed to parse URL: bad host or port");
  }
  const port = port_text === "" ? DEFAULT_PORTS[scheme] : tonumber(port_text) ?? 0;
  if (port < 1 || port > 65535) {
    return $multi(undefined, "failed to parse URL: port out of range");
  }

  const without_fragment = string.match(tail ?? "", "^([^#]*)")[0] ?? "";
  const [path_part, query_part] = string.match(without_fragment, "^([^?]*)%??(.*)$");
  const path = path_part === undefined || path_part === "" ? "/" : path_part;

  return $multi({ scheme, host, port, path, query: query_part ?? "" });
}
