-- The `kong` global of the local runtime: only the PDK functions that
-- ai-proxy-azure calls (src/types/kong.d.ts lists them), each behaving as
-- Kong 3.x documents it. Anything else is absent, so a plugin that starts
-- calling a new PDK function fails loudly here until it is added to both.

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


local function balancer_data()
  local ctx = ngx.ctx
  local data = ctx.balancer_data
  if not data then
    data = {}
    ctx.balancer_data = data
  end
  return data
end


local log = {
  err = logger(ngx.ERR),
  warn = logger(ngx.WARN),
  notice = logger(ngx.NOTICE),
  info = logger(ngx.INFO),
  debug = logger(ngx.DEBUG),
}


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


function request.get_raw_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then
    return body
  end
  if ngx.req.get_body_file() then
    return nil, "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'"
  end
  return ""
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


-- kong.ctx.plugin is a different table for each plugin within one request.
local ctx = setmetatable({}, {
  __index = function(_, key)
    if key ~= "plugin" then
      return nil
    end
    local request_ctx = ngx.ctx
    local by_plugin = request_ctx.localkong_plugin_ctx
    if not by_plugin then
      by_plugin = {}
      request_ctx.localkong_plugin_ctx = by_plugin
    end
    local name = current_plugin()
    local plugin_ctx = by_plugin[name]
    if not plugin_ctx then
      plugin_ctx = {}
      by_plugin[name] = plugin_ctx
    end
    return plugin_ctx
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
