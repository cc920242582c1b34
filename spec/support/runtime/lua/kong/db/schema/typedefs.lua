-- The part of kong.db.schema.typedefs that plugin schemas use, shaped like
-- Kong's entries: plain field definitions that can also be called with
-- overrides, as in `typedefs.url { required = true }`.


local null = require("localkong.schema").null


local pairs = pairs
local tonumber = tonumber
local setmetatable = setmetatable


local HTTP_PROTOCOLS = { "grpc", "grpcs", "http", "https" }


local function copy_list(list)
  local copy = {}
  for i, v in ipairs(list) do
    copy[i] = v
  end
  return copy
end


-- Calling a typedef returns the overrides completed with the typedef's own
-- attributes; the typedef itself stays untouched.
local function define(definition)
  return setmetatable(definition, {
    __call = function(base, overrides)
      local field = overrides or {}
      for key, value in pairs(base) do
        if field[key] == nil then
          field[key] = value
        end
      end
      return field
    end,
  })
end


local function is_ipv4(host)
  local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then
    return false
  end
  for _, octet in ipairs({ a, b, c, d }) do
    if #octet > 3 or tonumber(octet) > 255 then
      return false
    end
  end
  return true
end


local function is_ipv6(host)
  if not host:find(":", 1, true) or not host:match("^[%x:%.]+$") then
    return false
  end
  local _, double_colons = host:gsub("::", "")
  return double_colons <= 1
end


local function is_hostname(host)
  if not host:match("^[%w%-%._]+$") then
    return false
  end
  for label in host:gmatch("[^.]+") do
    if label:sub(1, 1) == "-" or label:sub(-1) == "-" then
      return false
    end
  end
  return host:sub(1, 1) ~= "."
end


-- A host name or address, with no port.
local function validate_host(host)
  if host:match("^%[.*%]:%d+$") or host:match("^[^:]+:%d+$") then
    return nil, "must not have a port"
  end
  local bare = host:match("^%[(.*)%]$") or host
  if is_ipv4(bare) or is_ipv6(bare) or is_hostname(bare) then
    return true
  end
  return nil, "invalid value: " .. host
end


-- Kong asks a URL for a scheme and a host only, the way LuaSocket's url.parse
-- reads them: the port is cut off without being checked, and anything else
-- about the URL is left to the plugin.
local function validate_url(url)
  local scheme, rest = url:match("^(%a[%w+%.%-]*):(.*)$")
  local authority = (rest or url):match("^//([^/?#]*)")
  local host = authority and authority:gsub("^.*@", ""):gsub(":[^:%]]*$", "")
  if host == nil or host == "" then
    return nil, "missing host in url"
  end
  if scheme == nil then
    return nil, "missing scheme in url"
  end
  return true
end


local function validate_header_name(name)
  if name:match("^[%w_%-]+$") then
    return true
  end
  return nil, "bad header name '" .. name
              .. "': only letters, digits, '-' and '_' are allowed"
end


local typedefs = {}


typedefs.protocols_http = define {
  type = "set",
  required = true,
  default = copy_list(HTTP_PROTOCOLS),
  elements = { type = "string", one_of = copy_list(HTTP_PROTOCOLS) },
  description = "The HTTP protocols the plugin runs for.",
}


typedefs.no_consumer = define {
  type = "foreign",
  reference = "consumers",
  eq = null,
  description = "Plugins of this kind cannot be scoped to a consumer.",
}


typedefs.url = define {
  type = "string",
  custom_validator = validate_url,
  description = "A URL with a scheme and a host.",
}


typedefs.host = define {
  type = "string",
  custom_validator = validate_host,
  description = "A host name or IP address, without a port.",
}


typedefs.port = define {
  type = "integer",
  between = { 0, 65535 },
  description = "A port number from 0 to 65535.",
}


typedefs.header_name = define {
  type = "string",
  custom_validator = validate_header_name,
  description = "An HTTP header name.",
}


return typedefs
