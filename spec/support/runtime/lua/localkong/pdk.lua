-- The `kong` global of the local runtime: only the PDK functions that
-- ai-proxy-azure calls (src/types/kong.d.ts lists them), each behaving as
-- Kong 3.x documents it, and kong.log.serialize, which the runtime's file-log
-- stand-in calls. Anything else is absent, so a plugin that starts calling a
-- new PDK function fails loudly here until it is added to both.

local cjson = require "cjson.safe"


local ngx = ngx
local type = type
local pairs = pairs
local select = select
local tostring = tostring
local tonumber = tonumber
local concat = table.concat
local lower = string.lower


local pdk = {}


local PHASES_THAT_MAY_EXIT = { rewrite = true, access = true }

local PHASES_WITH_SERIALIZE_VALUES = {
  rewrite = true, access = true, header_filter = true, body_filter = true, log = true,
}

-- Request headers Kong's serializer never shows (kong/pdk/log.lua).
local REDACTED_HEADERS = { "authorization", "proxy-authorization" }



local function current_plugin()
  return ngx.ctx.localkong_plugin or "core"
end


local function logger(level)
  return function(...)
    local parts = { "[", current_plugin(), "] " }
    for i = 1, select("#", ...) do
      parts[#parts + 1] = tostring((select(i, ...)))
    end
    ngx.log(level, concat(parts))
  end
end


-- parent[key], made an empty table on first use.
local function subtable(parent, key)
  local child = parent[key]
  if not child then
    child = {}
    parent[key] = child
  end
  return child
end


local function balancer_data()
  return subtable(ngx.ctx, "balancer_data")
end


local log = {
  err = logger(ngx.ERR),
  warn = logger(ngx.WARN),
  notice = logger(ngx.NOTICE),
  info = logger(ngx.INFO),
  debug = logger(ngx.DEBUG),
}


-- As in Kong: the value is checked when serialize() applies it, not here.
function log.set_serialize_value(key, value, options)
  local phase = ngx.get_phase()
  if not PHASES_WITH_SERIALIZE_VALUES[phase] then
    error("kong.log.set_serialize_value cannot be called in the " .. phase .. " phase", 2)
  end
  if type(key) ~= "string" then
    error("key must be a string", 2)
  end
  local mode = options and options.mode or "set"
  if mode ~= "set" and mode ~= "add" and mode ~= "replace" then
    error("mode must be 'set', 'add' or 'replace'", 2)
  end
  local values = subtable(ngx.ctx, "localkong_serialize_values")
  values[#values + 1] = { key = key, value = value, mode = mode }
end


local function is_serializable(value, seen)
  local kind = type(value)
  if value == nil or value == ngx.null or kind == "number" or kind == "string" or kind == "boolean" then
    return true
  end
  if kind ~= "table" or seen[value] then
    return false
  end
  seen[value] = true
  for k, v in pairs(value) do
    local key_kind = type(k)
    if (key_kind ~= "string" and key_kind ~= "number" and key_kind ~= "boolean")
       or not is_serializable(v, seen)
    then
      return false
    end
  end
  return true
end


-- Dots in a key walk into nested tables, made as needed for set and add;
-- replace changes only a field that exists, at the end of a chain that does.
local function apply_serialize_value(root, item)
  if not is_serializable(item.value, {}) then
    error("value must be nil, a number, string, boolean or a non-self-referencial table "
          .. "containing numbers, string and booleans", 3)
  end
  local node = root
  local parts = {}
  for part in (item.key .. "."):gmatch("(.-)%.") do
    parts[#parts + 1] = part
  end
  for i = 1, #parts - 1 do
    local part = parts[i]
    local child = node[part]
    if child == nil then
      if item.mode == "replace" then
        return
      end
      child = {}
      node[part] = child
    elseif type(child) ~= "table" then
      error("The key '" .. item.key .. "' could not be used as a serialize value. Subkey '"
            .. part .. "' is not a table. It's " .. tostring(child))
    end
    node = child
  end
  local last = parts[#parts]
  local existing = node[last]
  if item.mode == "set" or (item.mode == "add" and existing == nil)
     or (item.mode == "replace" and existing ~= nil)
  then
    node[last] = item.value
  end
end


local function copy_fields(entity, skip)
  if not entity then
    return nil
  end
  local copy = {}
  for key, value in pairs(entity) do
    if not skip[key] and type(value) ~= "function" then
      copy[key] = type(value) == "table" and copy_fields(value, {}) or value
    end
  end
  return copy
end


local function source_of(ctx)
  if ctx.localkong_exited then
    return "exit"
  end
  if ngx.var.upstream_status then
    return "service"
  end
  return "error"
end


local function milliseconds(from, to)
  if not from or not to then
    return nil
  end
  return math.floor((to - from) * 1000 + 0.5)
end


--- The request's log entry, shaped as Kong's basic serializer shapes it:
-- request, upstream_uri, upstream_status, response, latencies, route,
-- service, client_ip, started_at, source, then the set values applied.
function log.serialize()
  local phase = ngx.get_phase()
  if phase ~= "log" then
    error("kong.log.serialize cannot be called in the " .. phase .. " phase", 2)
  end
  local ctx = ngx.ctx
  local var = ngx.var

  local request_headers = ngx.req.get_headers()
  for _, name in ipairs(REDACTED_HEADERS) do
    if request_headers[name] ~= nil then
      request_headers[name] = "REDACTED"
    end
  end

  local request_uri = var.request_uri or ""
  local upstream_uri = var.upstream_uri or ""
  if upstream_uri ~= "" and not upstream_uri:find("?", 1, true) and var.is_args == "?" then
    upstream_uri = upstream_uri .. "?" .. (var.args or "")
  end

  ngx.update_time()
  local start = ngx.req.start_time()
  local access_end = ctx.localkong_access_ended_at
  local response_start = ctx.localkong_response_started_at
  local proxied = var.upstream_status ~= nil
  local root = {
    request = {
      uri = request_uri,
      url = var.scheme .. "://" .. var.host .. ":" .. var.server_port .. request_uri,
      querystring = ngx.req.get_uri_args(),
      method = ngx.req.get_method(),
      headers = request_headers,
      size = tonumber(var.request_length),
    },
    upstream_uri = upstream_uri,
    upstream_status = var.upstream_status or "",
    response = {
      status = ngx.status,
      headers = ngx.resp.get_headers(),
      size = tonumber(var.bytes_sent),
    },
    latencies = {
      kong = proxied and milliseconds(start, access_end) or milliseconds(start, response_start) or 0,
      proxy = proxied and milliseconds(access_end, response_start) or -1,
      request = tonumber(var.request_time) * 1000,
      receive = proxied and milliseconds(response_start, ngx.now()) or 0,
    },
    route = copy_fields(ctx.localkong_route, { service = true, plugins = true }),
    service = copy_fields(ctx.localkong_service, { routes = true, plugins = true }),
    client_ip = var.remote_addr,
    started_at = math.floor(start * 1000),
    source = source_of(ctx),
  }

  for _, item in ipairs(ctx.localkong_serialize_values or {}) do
    apply_serialize_value(root, item)
  end
  return root
end


local request = {}


function request.get_header(name)
  local value = ngx.req.get_headers()[name]
  if type(value) == "table" then
    return value[1]
  end
  return value
end


function request.get_path()
  local uri = ngx.var.request_uri or ""
  local question = uri:find("?", 1, true)
  if question then
    return uri:sub(1, question - 1)
  end
  return uri
end


function request.get_raw_query()
  return ngx.var.args or ""
end


function request.get_method()
  return ngx.req.get_method()
end


-- As Kong 3.8 and later: a body nginx spooled to a file is read from it when
-- max_allowed_file_size allows (0: any size); without it, it is refused.
function request.get_raw_body(max_allowed_file_size)
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then
    return body
  end
  local path = ngx.req.get_body_file()
  if not path then
    return ""
  end
  if not max_allowed_file_size or max_allowed_file_size < 0 then
    return nil, "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'"
  end
  local file, err = io.open(path, "r")
  if not file then
    return nil, "failed to open cached request body '" .. path .. "': " .. err
  end
  local size = file:seek("end") or 0
  if max_allowed_file_size > 0 and size > max_allowed_file_size then
    file:close()
    return nil, ("request body file too big: %d > %d"):format(size, max_allowed_file_size)
  end
  file:seek("set")
  local content = file:read("*a")
  file:close()
  return content
end


local service = { request = {}, response = {} }


-- As in Kong: the Host header becomes the bare host name (no port), and the
-- balancer connects to host:port.
function service.set_target(host, port)
  if type(host) ~= "string" then
    error("host must be a string", 2)
  end
  if type(port) ~= "number" or math.floor(port) ~= port then
    error("port must be an integer", 2)
  end
  if port < 0 or port > 65535 then
    error("port must be an integer between 0 and 65535: given " .. port, 2)
  end
  ngx.var.upstream_host = host
  local data = balancer_data()
  data.host = host
  data.port = port
end


function service.request.set_scheme(scheme)
  if scheme ~= "http" and scheme ~= "https" then
    error("invalid scheme: " .. tostring(scheme), 2)
  end
  ngx.var.upstream_scheme = scheme
end


function service.request.set_path(path)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    error("path must start with /", 2)
  end
  ngx.var.upstream_uri = path
end


function service.request.set_raw_query(query)
  if type(query) ~= "string" then
    error("query must be a string", 2)
  end
  ngx.var.args = query
end


function service.request.set_header(name, value)
  if lower(name) == "host" then
    ngx.var.upstream_host = value
    return
  end
  ngx.req.set_header(name, value)
end


function service.request.clear_header(name)
  ngx.req.clear_header(name)
end


function service.request.set_raw_body(body)
  if type(body) ~= "string" then
    error("body must be a string", 2)
  end
  ngx.req.read_body()
  ngx.req.set_body_data(body)
  ngx.req.set_header("Content-Length", #body)
end


function service.response.get_status()
  -- with retries nginx lists every attempt: the last one answered
  local statuses = ngx.var.upstream_status
  if not statuses then
    return nil
  end
  return tonumber(statuses:sub(-3))
end


local response = {}


function response.exit(status, body, headers)
  local phase = ngx.get_phase()
  if not PHASES_THAT_MAY_EXIT[phase] then
    error("kong.response.exit cannot be called in the " .. phase .. " phase", 2)
  end

  ngx.ctx.localkong_exited = true
  ngx.status = status
  if headers then
    for name, value in pairs(headers) do
      ngx.header[name] = value
    end
  end

  if type(body) == "table" then
    local encoded, err = cjson.encode(body)
    if not encoded then
      error("failed to encode the response body: " .. err, 2)
    end
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
    body = encoded
  end

  if body ~= nil then
    ngx.header["Content-Length"] = #body
    ngx.print(body)
  end
  return ngx.exit(status)
end


function response.set_header(name, value)
  ngx.header[name] = value
end


function response.clear_header(name)
  ngx.header[name] = nil
end


function response.get_header(name)
  local value = ngx.resp.get_headers()[name]
  if type(value) == "table" then
    return value[1]
  end
  return value
end


-- kong.ctx.plugin is a different table for each plugin within one request.
local ctx = setmetatable({}, {
  __index = function(_, key)
    if key ~= "plugin" then
      return nil
    end
    return subtable(subtable(ngx.ctx, "localkong_plugin_ctx"), current_plugin())
  end,
})


function pdk.new()
  return {
    log = log,
    request = request,
    service = service,
    response = response,
    ctx = ctx,
  }
end


return pdk
