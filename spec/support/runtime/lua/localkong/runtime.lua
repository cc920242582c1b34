-- The local runtime's request cycle: what Kong's runloop does for a DB-less
-- node, reduced to what the plugin needs. init loads the plugins and the
-- declarative configuration in the master, as Kong does; the phase functions
-- route the request and run each plugin's handler for the phase.

local cjson = require "cjson.safe"
local declarative = require "localkong.declarative"
local dns = require "localkong.dns"
local pdk = require "localkong.pdk"


local ngx = ngx
local ipairs = ipairs
local pcall = pcall
local sort = table.sort
local tostring = tostring


local runtime = {}


local DEFAULT_PORTS = { http = 80, https = 443 }

local config
local handlers = {}
local file_log_path
local file_log


local function read_file(path)
  local file, err = io.open(path, "r")
  if not file then
    return nil, err
  end
  local content = file:read("*a")
  file:close()
  return content
end


local function fail_startup(options, message)
  if options.error_file then
    local file = io.open(options.error_file, "w")
    if file then
      file:write(message)
      file:close()
    end
  end
  error(message, 0)
end


local function load_plugins(names)
  local schemas = {}
  for _, name in ipairs(names) do
    local ok_handler, handler = pcall(require, "kong.plugins." .. name .. ".handler")
    if not ok_handler then
      return nil, "failed to load plugin '" .. name .. "': " .. tostring(handler)
    end
    local ok_schema, schema = pcall(require, "kong.plugins." .. name .. ".schema")
    if not ok_schema then
      return nil, "failed to load the schema of plugin '" .. name .. "': " .. tostring(schema)
    end
    handlers[name] = handler
    schemas[name] = schema
  end
  return schemas
end


-- Kong hands every handler its plugin entity's id as config.__plugin_id. The
-- local runtime has no database ids: each plugin gets one made from its name
-- and scope, the same at every start.
local function assign_plugin_ids(loaded)
  for _, plugin in ipairs(loaded.plugins) do
    local digest = ngx.md5(plugin.name .. "|" .. tostring(plugin.route) .. "|" .. tostring(plugin.service))
    plugin.config.__plugin_id = digest:sub(1, 8) .. "-" .. digest:sub(9, 12) .. "-" .. digest:sub(13, 16)
      .. "-" .. digest:sub(17, 20) .. "-" .. digest:sub(21, 32)
  end
end


--- Runs in the master. options: config_file (JSON of kong.yml), plugins
--- (names), error_file (where to write a startup failure), dns options,
--- file_log (where to append each request's serialized log, as file-log does).
function runtime.init(options)
  _G.kong = pdk.new()

  local ok, dns_err = dns.configure(options.dns or {})
  if not ok then
    fail_startup(options, dns_err)
  end
  dns.patch_tcp()

  local schemas, load_err = load_plugins(options.plugins)
  if not schemas then
    fail_startup(options, load_err)
  end

  local text, read_err = read_file(options.config_file)
  if not text then
    fail_startup(options, "failed to read the declarative configuration: " .. tostring(read_err))
  end
  local document, decode_err = cjson.decode(text)
  if not document then
    fail_startup(options, "failed to decode the declarative configuration: " .. decode_err)
  end

  local loaded, config_err = declarative.load(document, schemas)
  if not loaded then
    fail_startup(options, config_err)
  end
  config = loaded
  assign_plugin_ids(config)
  file_log_path = options.file_log
end


function runtime.init_worker()
  ngx.ctx = {}
  for name, handler in pairs(handlers) do
    if handler.init_worker then
      ngx.ctx.localkong_plugin = name
      handler:init_worker()
    end
  end
  ngx.ctx.localkong_plugin = nil
end


local function by_priority(a, b)
  local priority_a = handlers[a.name].PRIORITY or 0
  local priority_b = handlers[b.name].PRIORITY or 0
  -- Kong breaks a tie by name, in reverse order.
  if priority_a == priority_b then
    return a.name > b.name
  end
  return priority_a > priority_b
end


local function run_phase(phase)
  local ctx = ngx.ctx
  local plugins = ctx.localkong_plugins
  if not plugins then
    return
  end
  for _, plugin in ipairs(plugins) do
    local handler = handlers[plugin.name]
    if handler[phase] then
      ctx.localkong_plugin = plugin.name
      handler[phase](handler, plugin.config)
    end
  end
  ctx.localkong_plugin = nil
end


local function join_paths(service_path, rest)
  if service_path == nil or service_path == "" or service_path == "/" then
    return rest
  end
  if rest == "/" then
    return service_path
  end
  if service_path:sub(-1) == "/" then
    return service_path .. rest:sub(2)
  end
  return service_path .. rest
end


local function no_route()
  ngx.status = 404
  ngx.header["Content-Type"] = "application/json; charset=utf-8"
  ngx.print('{\n  "message":"no Route matched with those values"\n}')
  return ngx.exit(404)
end


local function bad_gateway(message)
  ngx.log(ngx.ERR, message)
  ngx.status = 502
  ngx.header["Content-Type"] = "application/json; charset=utf-8"
  ngx.print('{\n  "message":"An invalid response was received from the upstream server"\n}')
  return ngx.exit(502)
end


function runtime.access()
  local ctx = ngx.ctx
  local path = kong.request.get_path()
  local route_index, _, matched_prefix = declarative.match_route(config, path)
  if not route_index then
    return no_route()
  end

  local route = config.routes[route_index]
  local service = route.service and config.services[route.service]
  if not service then
    return no_route()
  end

  local rest = path
  if route.strip_path and matched_prefix then
    rest = path:sub(#matched_prefix + 1)
    if rest:sub(1, 1) ~= "/" then
      rest = "/" .. rest
    end
  end

  ngx.var.upstream_scheme = service.protocol
  ngx.var.upstream_uri = join_paths(service.path, rest)
  if not route.preserve_host then
    local port = service.port
    ngx.var.upstream_host = port == DEFAULT_PORTS[service.protocol] and service.host
      or service.host .. ":" .. port
  end
  -- As in Kong, the kind of host (address or name) is fixed here, from the
  -- Service; kong.service.set_target changes the host and port only.
  ctx.balancer_data = { host = service.host, port = service.port, type = dns.host_kind(service.host) }
  ctx.localkong_route = route
  ctx.localkong_service = service

  local plugins = declarative.plugins_for(config, route_index)
  sort(plugins, by_priority)
  ctx.localkong_plugins = plugins

  -- A plugin that answers with kong.response.exit ends the request here.
  run_phase("access")

  -- Kong appends the (possibly rewritten) query once the access phase is over.
  local args = ngx.var.args
  if args and args ~= "" then
    ngx.var.upstream_uri = ngx.var.upstream_uri .. "?" .. args
  end

  -- Kong resolves names only; any other host is taken as an address as is,
  -- and the balancer fails on one that is not.
  local data = ctx.balancer_data
  if data.type == "name" then
    local address, err = dns.resolve(data.host)
    if not address then
      return bad_gateway("failed to resolve the upstream: " .. err)
    end
    data.address = address
  else
    data.address = data.host
  end
  ngx.update_time()
  ctx.localkong_access_ended_at = ngx.now()
end


function runtime.balancer()
  local balancer = require "ngx.balancer"
  local data = ngx.ctx.balancer_data
  local ok, err = balancer.set_current_peer(data.address, data.port)
  if not ok then
    ngx.log(ngx.ERR, "failed to set the current peer (address: ", tostring(data.address),
            " port: ", tostring(data.port), "): ", tostring(err))
    return ngx.exit(500)
  end
end


-- As in Kong, the filters and the log phase also run for responses that a
-- plugin produced with kong.response.exit.
function runtime.header_filter()
  ngx.update_time()
  ngx.ctx.localkong_response_started_at = ngx.now()
  run_phase("header_filter")
end


function runtime.body_filter()
  run_phase("body_filter")
end


-- Kong's file-log: one JSON line per request, written in one call so that
-- the lines of several workers never interleave.
local function write_file_log()
  if not file_log then
    local file, err = io.open(file_log_path, "a")
    if not file then
      ngx.log(ngx.ERR, "failed to open the file log ", file_log_path, ": ", err)
      return
    end
    file:setvbuf("no")
    file_log = file
  end
  local line, err = cjson.encode(kong.log.serialize())
  if not line then
    ngx.log(ngx.ERR, "failed to encode the serialized log: ", err)
    return
  end
  file_log:write(line .. "\n")
end


-- The plugins' log phases first, then the file log: log plugins run last in
-- Kong too (their priorities are the lowest), and read what the others set.
function runtime.log()
  run_phase("log")
  if file_log_path then
    write_file_log()
  end
end


return runtime
