-- Reads a decoded kong.yml (format 3.0) the way Kong's DB-less mode would,
-- for the subset the local runtime serves: services, routes with plain prefix
-- paths, and plugins at global, service, route or route+service scope.
-- Everything else is refused with a message that names where it is.


local schema = require "localkong.schema"
local typedefs = require "kong.db.schema.typedefs"


local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local floor = math.floor
local concat = table.concat
local insert = table.insert
local sort = table.sort


local null = schema.null


local FORMAT_VERSION = "3.0"
local MAX_TIMEOUT = 2^31 - 2


-- Kong keys accepted anywhere and ignored: they label entities and change
-- nothing about how a request is served.
local IGNORED_KEYS = {
  tags = true, id = true, created_at = true, updated_at = true,
  _comment = true, _ignore = true,
}


-- Top-level collections Kong knows but this runtime does not serve.
local UNSUPPORTED_COLLECTIONS = {
  consumers = true, consumer_groups = true, upstreams = true, targets = true,
  certificates = true, snis = true, vaults = true,
  keys = true, key_sets = true, filter_chains = true, partials = true,
  parameters = true, workspaces = true, _workspace = true,
}


local SERVICE_KEYS = {
  name = true, url = true, protocol = true, host = true, port = true,
  path = true, routes = true, plugins = true, retries = true,
  connect_timeout = true, read_timeout = true, write_timeout = true,
  enabled = true, tls_verify = true, tls_verify_depth = true, ca_certificates = true,
}
local SERVICE_UNSUPPORTED = {
  client_certificate = true,
}

local CA_CERTIFICATE_KEYS = { cert = true, cert_digest = true }


local ROUTE_KEYS = {
  name = true, paths = true, methods = true, strip_path = true,
  preserve_host = true, protocols = true, path_handling = true, service = true,
  plugins = true, regex_priority = true, https_redirect_status_code = true,
  request_buffering = true, response_buffering = true,
}
local ROUTE_UNSUPPORTED = {
  hosts = true, headers = true, snis = true, sources = true,
  destinations = true, expression = true, priority = true,
}


local PLUGIN_KEYS = {
  name = true, config = true, enabled = true, protocols = true,
  service = true, route = true, instance_name = true,
}
local PLUGIN_UNSUPPORTED = {
  consumer = true, consumer_group = true, ordering = true,
}


local SERVED_PROTOCOLS = { http = true, https = true }


-- Collected load errors, reported in document order.
local function new_problems()
  return {}
end


local function problem(problems, where, message)
  insert(problems, where .. ": " .. message)
end


local function at(where, key)
  if type(key) == "number" then
    return where .. "[" .. key .. "]"
  end
  if where == "" then
    return key
  end
  return where .. "." .. key
end


local function is_unset(value)
  return value == nil or value == null
end


local function is_array(value)
  if type(value) ~= "table" then
    return false
  end
  local count = 0
  for k in pairs(value) do
    if type(k) ~= "number" or k < 1 or k ~= floor(k) then
      return false
    end
    count = count + 1
  end
  return count == #value
end


local function sorted_keys(tbl)
  local keys = {}
  for key in pairs(tbl) do
    insert(keys, tostring(key))
  end
  sort(keys)
  return keys
end


local function check_keys(problems, where, entity, known, unsupported)
  for _, key in ipairs(sorted_keys(entity)) do
    if unsupported and unsupported[key] then
      problem(problems, at(where, key), "not supported by the local runtime")
    elseif not known[key] and not IGNORED_KEYS[key] then
      problem(problems, at(where, key), "unknown field")
    end
  end
end


local function read_boolean(problems, where, value, default)
  if is_unset(value) then
    return default
  end
  if type(value) ~= "boolean" then
    problem(problems, where, "expected a boolean")
    return default
  end
  return value
end


local function read_integer(problems, where, value, default, low, high)
  if is_unset(value) then
    return default
  end
  if type(value) ~= "number" or value ~= floor(value) then
    problem(problems, where, "expected an integer")
    return default
  end
  if value < low or value > high then
    problem(problems, where, ("value should be between %d and %d"):format(low, high))
    return default
  end
  return value
end


-- Kong's entity names: letters, digits and . - _ ~
local function read_name(problems, where, value, seen, kind)
  if is_unset(value) then
    return nil
  end
  if type(value) ~= "string" or value == "" then
    problem(problems, where, "expected a non-empty string")
    return nil
  end
  if not value:match("^[%w%.%-_~]+$") then
    problem(problems, where, "invalid name '" .. value
                             .. "': use letters, digits, '.', '-', '_' or '~'")
    return nil
  end
  if seen[value] then
    problem(problems, where, kind .. " name '" .. value .. "' is already used")
    return nil
  end
  seen[value] = true
  return value
end


local function valid_path(path)
  return path:sub(1, 1) == "/"
     and not path:find("//", 1, true)
     and path:match("^/[%w%.%-_~/%%:@!%$&'%(%)%*%+,;=]*$") ~= nil
end


-- Kong's `url` shorthand: scheme, host, port and path in one string; the
-- port follows the scheme when absent, and the shorthand wins over the
-- separate fields.
local function parse_url(url)
  local scheme, authority, path = url:match("^(%a[%w+%.%-]*)://([^/?#]*)([^?#]*)")
  if not scheme then
    return nil
  end
  authority = authority:gsub("^.*@", "")
  local host, port = authority:match("^%[([^%]]*)%]:?(%d*)$")
  if not host then
    host, port = authority:match("^([^:]*):?(%d*)$")
  end
  if not host or host == "" then
    return nil
  end
  scheme = scheme:lower()
  port = tonumber(port)
  if port == nil then
    port = (scheme == "https") and 443 or 80
  end
  return {
    protocol = scheme,
    host = host,
    port = port,
    path = path ~= "" and path or nil,
  }
end


local function read_service_fields(problems, where, entry)
  local protocol, host, port, path = entry.protocol, entry.host, entry.port, entry.path

  if not is_unset(entry.url) then
    if type(entry.url) ~= "string" then
      problem(problems, at(where, "url"), "expected a string")
      return nil
    end
    local parsed = parse_url(entry.url)
    if not parsed then
      problem(problems, at(where, "url"), "could not parse url '" .. entry.url .. "'")
      return nil
    end
    protocol, host, port, path = parsed.protocol, parsed.host, parsed.port, parsed.path
  end

  local ok = true
  if is_unset(protocol) then
    protocol = "http"
  elseif type(protocol) ~= "string" then
    problem(problems, at(where, "protocol"), "expected a string")
    ok = false
  elseif not SERVED_PROTOCOLS[protocol] then
    problem(problems, at(where, "protocol"), "'" .. protocol
                      .. "' is not supported by the local runtime (http, https)")
    ok = false
  end

  if is_unset(host) then
    problem(problems, at(where, "host"), "required field missing (or give 'url')")
    ok = false
  elseif type(host) ~= "string" then
    problem(problems, at(where, "host"), "expected a string")
    ok = false
  else
    local valid, err = typedefs.host.custom_validator(host)
    if not valid then
      problem(problems, at(where, "host"), err)
      ok = false
    end
  end

  -- Kong's default port is 80 whatever the protocol; only the url shorthand
  -- picks 443 for https.
  port = read_integer(problems, at(where, "port"), port, 80, 0, 65535)

  if is_unset(path) then
    path = nil
  elseif type(path) ~= "string" then
    problem(problems, at(where, "path"), "expected a string")
    ok = false
  elseif not valid_path(path) then
    problem(problems, at(where, "path"), "invalid path '" .. path
                      .. "': must start with '/', have no empty segment and use RFC 3986 characters")
    ok = false
  end

  if not ok then
    return nil
  end
  return { protocol = protocol, host = host, port = port, path = path }
end


local function read_string_list(problems, where, value)
  if not is_array(value) then
    problem(problems, where, "expected an array")
    return nil
  end
  for i, item in ipairs(value) do
    if type(item) ~= "string" or item == "" then
      problem(problems, at(where, i), "expected a non-empty string")
      return nil
    end
  end
  return value
end


local function read_service(problems, where, entry, names)
  if type(entry) ~= "table" or is_array(entry) and #entry > 0 then
    problem(problems, where, "expected a service record")
    return nil
  end
  check_keys(problems, where, entry, SERVICE_KEYS, SERVICE_UNSUPPORTED)

  local service = read_service_fields(problems, where, entry) or {}
  service.name = read_name(problems, at(where, "name"), entry.name, names, "service")
  service.retries = read_integer(problems, at(where, "retries"), entry.retries, 5, 0, 32767)
  for _, timeout in ipairs({ "connect_timeout", "read_timeout", "write_timeout" }) do
    service[timeout] = read_integer(problems, at(where, timeout), entry[timeout],
                                    60000, 1, MAX_TIMEOUT)
  end
  if read_boolean(problems, at(where, "enabled"), entry.enabled, true) == false then
    problem(problems, at(where, "enabled"), "disabled services are not supported by the local runtime")
  end
  service.tls_verify = read_boolean(problems, at(where, "tls_verify"), entry.tls_verify, nil)
  service.tls_verify_depth = read_integer(problems, at(where, "tls_verify_depth"),
                                          entry.tls_verify_depth, nil, 0, 64)
  if not is_unset(entry.ca_certificates) then
    service.ca_certificates = read_string_list(problems, at(where, "ca_certificates"), entry.ca_certificates)
  end
  return service
end


local function read_paths(problems, where, value)
  if is_unset(value) then
    problem(problems, where, "required (the local runtime routes by path only)")
    return nil
  end
  local paths = read_string_list(problems, where, value)
  if not paths then
    return nil
  end
  if #paths == 0 then
    problem(problems, where, "required (the local runtime routes by path only)")
    return nil
  end
  local out = {}
  for i, path in ipairs(paths) do
    if path:sub(1, 1) == "~" then
      problem(problems, at(where, i), "regex paths are not supported by the local runtime")
    elseif not valid_path(path) then
      problem(problems, at(where, i), "invalid path '" .. path
                        .. "': must start with '/', have no empty segment and use RFC 3986 characters")
    else
      out[i] = path
    end
  end
  return out
end


local function read_route(problems, where, entry, names, nested)
  if type(entry) ~= "table" or is_array(entry) and #entry > 0 then
    problem(problems, where, "expected a route record")
    return nil
  end
  check_keys(problems, where, entry, ROUTE_KEYS, ROUTE_UNSUPPORTED)
  if nested and entry.service ~= nil then
    problem(problems, at(where, "service"), "not allowed in a route nested under a service")
  end

  local route = {
    name = read_name(problems, at(where, "name"), entry.name, names, "route"),
    paths = read_paths(problems, at(where, "paths"), entry.paths),
    strip_path = read_boolean(problems, at(where, "strip_path"), entry.strip_path, true),
    preserve_host = read_boolean(problems, at(where, "preserve_host"), entry.preserve_host, false),
    request_buffering = read_boolean(problems, at(where, "request_buffering"),
                                     entry.request_buffering, true),
    response_buffering = read_boolean(problems, at(where, "response_buffering"),
                                      entry.response_buffering, true),
    path_handling = "v0",
    protocols = { "http", "https" },
  }
  read_integer(problems, at(where, "regex_priority"), entry.regex_priority, 0, -2^31, 2^31)
  read_integer(problems, at(where, "https_redirect_status_code"),
               entry.https_redirect_status_code, 426, 100, 599)

  if not is_unset(entry.path_handling) then
    if entry.path_handling == "v0" or entry.path_handling == "v1" then
      route.path_handling = entry.path_handling
    else
      problem(problems, at(where, "path_handling"), "expected one of: v0, v1")
    end
  end

  if not is_unset(entry.methods) then
    local methods = read_string_list(problems, at(where, "methods"), entry.methods)
    if methods then
      route.methods = {}
      for i, method in ipairs(methods) do
        if not method:match("^%u+$") then
          problem(problems, at(at(where, "methods"), i), "invalid value: " .. method)
        end
        route.methods[i] = method
      end
    end
  end

  if not is_unset(entry.protocols) then
    local protocols = read_string_list(problems, at(where, "protocols"), entry.protocols)
    if protocols then
      for i, protocol in ipairs(protocols) do
        if not SERVED_PROTOCOLS[protocol] then
          problem(problems, at(at(where, "protocols"), i), "'" .. protocol
                            .. "' is not supported by the local runtime (http, https)")
        end
      end
      route.protocols = protocols
    end
  end

  return route
end


-- A reference to a service or route: its name, or { name = ... }.
local function read_reference(problems, where, value, index_by_name, kind)
  if is_unset(value) then
    return nil
  end
  local name = value
  if type(value) == "table" then
    if value.id ~= nil and value.name == nil then
      problem(problems, where, "references by id are not supported by the local runtime; use the "
                               .. kind .. "'s name")
      return nil
    end
    name = value.name
  end
  if type(name) ~= "string" then
    problem(problems, where, "expected a " .. kind .. " name or { name = ... }")
    return nil
  end
  local index = index_by_name[name]
  if index == nil then
    problem(problems, where, "no " .. kind .. " named '" .. name .. "'")
    return nil
  end
  return index
end


local function scope_label(config, plugin)
  local parts = {}
  if plugin.route then
    insert(parts, "route " .. (config.routes[plugin.route].name or ("#" .. plugin.route)))
  end
  if plugin.service then
    insert(parts, "service " .. (config.services[plugin.service].name or ("#" .. plugin.service)))
  end
  if #parts == 0 then
    return "globally"
  end
  return "for " .. concat(parts, " and ")
end


-- Plugin entries are read after every service and route exists, so that
-- references resolve whatever their order in the file.
local function read_plugin(problems, where, entry, scope, plugin_schemas, lookup)
  if type(entry) ~= "table" or is_array(entry) and #entry > 0 then
    problem(problems, where, "expected a plugin record")
    return nil
  end
  check_keys(problems, where, entry, PLUGIN_KEYS, PLUGIN_UNSUPPORTED)

  local name = entry.name
  if type(name) ~= "string" or name == "" then
    problem(problems, at(where, "name"), "required field missing")
    return nil
  end
  local plugin_schema = plugin_schemas[name]
  if plugin_schema == nil then
    problem(problems, at(where, "name"), "plugin '" .. name .. "' is not enabled in this runtime")
    return nil
  end

  local service, route = scope.service, scope.route
  if entry.service ~= nil then
    if scope.nested then
      problem(problems, at(where, "service"), "not allowed in a plugin nested under a service or route")
    else
      service = read_reference(problems, at(where, "service"), entry.service,
                               lookup.services, "service")
    end
  end
  if entry.route ~= nil then
    if scope.nested then
      problem(problems, at(where, "route"), "not allowed in a plugin nested under a service or route")
    else
      route = read_reference(problems, at(where, "route"), entry.route, lookup.routes, "route")
    end
  end

  local conf, err = schema.process_plugin(plugin_schema, {
    name = name,
    config = entry.config,
    protocols = entry.protocols,
    enabled = entry.enabled,
  })
  if conf == nil then
    problem(problems, where, err)
    return nil
  end

  return {
    name = name,
    config = conf,
    service = service,
    route = route,
    enabled = entry.enabled ~= false,
  }
end


local function read_list(problems, where, value)
  if is_unset(value) then
    return {}
  end
  if not is_array(value) then
    problem(problems, where, "expected an array")
    return {}
  end
  return value
end


local declarative = {}


-- CA certificates, by id, for services' ca_certificates.
local function read_ca_certificates(problems, list)
  local by_id = {}
  for i, entry in ipairs(list) do
    local where = at("ca_certificates", i)
    if type(entry) ~= "table" or is_array(entry) and #entry > 0 then
      problem(problems, where, "expected a CA certificate record")
    else
      check_keys(problems, where, entry, CA_CERTIFICATE_KEYS)
      if type(entry.cert) ~= "string" or not entry.cert:find("-----BEGIN CERTIFICATE-----", 1, true) then
        problem(problems, at(where, "cert"), "expected a PEM certificate")
      end
      if type(entry.id) ~= "string" or entry.id == "" then
        problem(problems, at(where, "id"), "required here: services name CA certificates by id")
      elseif by_id[entry.id] then
        problem(problems, at(where, "id"), "duplicate id '" .. entry.id .. "'")
      else
        by_id[entry.id] = entry.cert
      end
    end
  end
  return by_id
end


-- Kong sets upstream TLS verification per request, from the Service; nginx
-- here sets it per location (gateway.ts writes it), so for every service or
-- for none, and only against CA certificates named in kong.yml.
local function check_upstream_tls(problems, services, wheres, ca_by_id)
  local verified, unverified
  for i, service in ipairs(services) do
    if service.tls_verify == true then
      verified = verified or wheres[i]
      if not service.ca_certificates or #service.ca_certificates == 0 then
        problem(problems, at(wheres[i], "ca_certificates"),
                "required with tls_verify here: name the CA certificates that sign the upstream's")
      end
    else
      unverified = unverified or wheres[i]
    end
    for j, id in ipairs(service.ca_certificates or {}) do
      if not ca_by_id[id] then
        problem(problems, at(at(wheres[i], "ca_certificates"), j), "no CA certificate with id '" .. id .. "'")
      end
    end
  end
  if verified and unverified then
    problem(problems, at(unverified, "tls_verify"),
            "the local runtime verifies upstream TLS for every service or for none, and "
            .. verified .. " sets tls_verify")
  end
end


--- Check a decoded kong.yml and return the normalized configuration, or nil
-- and every problem found, each naming where it is.
function declarative.load(doc, plugin_schemas)
  if type(doc) ~= "table" then
    return nil, "declarative config: expected a table"
  end
  plugin_schemas = plugin_schemas or {}
  local problems = new_problems()

  if doc._format_version ~= FORMAT_VERSION then
    local got = doc._format_version
    if got == nil then
      problem(problems, "_format_version", "required field missing (use \"3.0\")")
    elseif type(got) ~= "string" then
      problem(problems, "_format_version", "expected the string \"3.0\" (quote it in YAML)")
    else
      problem(problems, "_format_version", "unsupported version '" .. got .. "' (use \"3.0\")")
    end
  end
  read_boolean(problems, "_transform", doc._transform, true)

  for _, key in ipairs(sorted_keys(doc)) do
    if UNSUPPORTED_COLLECTIONS[key] then
      problem(problems, key, "not supported by the local runtime")
    elseif key ~= "_format_version" and key ~= "_transform" and key ~= "services"
       and key ~= "routes" and key ~= "plugins" and key ~= "ca_certificates"
       and key ~= "_comment" and key ~= "_ignore"
    then
      problem(problems, key, "unknown field")
    end
  end

  local config = { services = {}, routes = {}, plugins = {} }
  local lookup = { services = {}, routes = {} }
  local service_names, route_names = {}, {}
  local pending_plugins = {}
  local ca_by_id = read_ca_certificates(problems, read_list(problems, "ca_certificates", doc.ca_certificates))
  local service_wheres = {}

  for i, entry in ipairs(read_list(problems, "services", doc.services)) do
    local where = at("services", i)
    local service = read_service(problems, where, entry, service_names)
    if service then
      insert(config.services, service)
      service_wheres[#config.services] = where
      local service_index = #config.services
      if service.name then
        lookup.services[service.name] = service_index
      end

      for j, route_entry in ipairs(read_list(problems, at(where, "routes"), entry.routes)) do
        local route_where = at(at(where, "routes"), j)
        local route = read_route(problems, route_where, route_entry, route_names, true)
        if route then
          route.service = service_index
          insert(config.routes, route)
          if route.name then
            lookup.routes[route.name] = #config.routes
          end
          for k, plugin_entry in ipairs(read_list(problems, at(route_where, "plugins"),
                                                  route_entry.plugins)) do
            insert(pending_plugins, {
              where = at(at(route_where, "plugins"), k),
              entry = plugin_entry,
              scope = { route = #config.routes, nested = true },
            })
          end
        end
      end

      for k, plugin_entry in ipairs(read_list(problems, at(where, "plugins"), entry.plugins)) do
        insert(pending_plugins, {
          where = at(at(where, "plugins"), k),
          entry = plugin_entry,
          scope = { service = service_index, nested = true },
        })
      end
    end
  end

  check_upstream_tls(problems, config.services, service_wheres, ca_by_id)

  local top_routes = {}
  for i, entry in ipairs(read_list(problems, "routes", doc.routes)) do
    local where = at("routes", i)
    local route = read_route(problems, where, entry, route_names, false)
    if route then
      insert(config.routes, route)
      if route.name then
        lookup.routes[route.name] = #config.routes
      end
      insert(top_routes, { index = #config.routes, where = where, entry = entry })
      for k, plugin_entry in ipairs(read_list(problems, at(where, "plugins"), entry.plugins)) do
        insert(pending_plugins, {
          where = at(at(where, "plugins"), k),
          entry = plugin_entry,
          scope = { route = #config.routes, nested = true },
        })
      end
    end
  end
  for _, item in ipairs(top_routes) do
    config.routes[item.index].service = read_reference(
      problems, at(item.where, "service"), item.entry.service, lookup.services, "service")
  end

  for i, entry in ipairs(read_list(problems, "plugins", doc.plugins)) do
    insert(pending_plugins, { where = at("plugins", i), entry = entry, scope = {} })
  end

  local scopes_taken = {}
  for _, item in ipairs(pending_plugins) do
    local plugin = read_plugin(problems, item.where, item.entry, item.scope,
                               plugin_schemas, lookup)
    if plugin then
      -- Kong allows one instance of a plugin per scope.
      local scope_key = plugin.name .. "|" .. tostring(plugin.route) .. "|" .. tostring(plugin.service)
      if scopes_taken[scope_key] then
        problem(problems, item.where, "plugin '" .. plugin.name .. "' is already configured "
                                      .. scope_label(config, plugin) .. " at " .. scopes_taken[scope_key])
      else
        scopes_taken[scope_key] = item.where
        if plugin.enabled then
          plugin.enabled = nil
          insert(config.plugins, plugin)
        end
      end
    end
  end

  if #problems > 0 then
    return nil, "invalid declarative config: " .. concat(problems, "; ")
  end
  return config
end


--- The route serving `path` (and `method`, when given): the longest matching
-- prefix wins; on a tie, a route that names methods beats one that does not,
-- then the one declared first. Returns the route index, the route, and the
-- prefix that matched.
function declarative.match_route(config, path, method)
  local best_index, best_prefix, best_has_methods
  for index, route in ipairs(config.routes) do
    local method_ok = true
    if route.methods and method then
      method_ok = false
      for _, allowed in ipairs(route.methods) do
        if allowed == method then
          method_ok = true
          break
        end
      end
    end
    if method_ok then
      for _, prefix in ipairs(route.paths) do
        if path:sub(1, #prefix) == prefix then
          local has_methods = route.methods ~= nil
          local better = best_prefix == nil
            or #prefix > #best_prefix
            or (#prefix == #best_prefix and has_methods and not best_has_methods)
          if better then
            best_index, best_prefix, best_has_methods = index, prefix, has_methods
          end
        end
      end
    end
  end
  if best_index == nil then
    return nil
  end
  return best_index, config.routes[best_index], best_prefix
end


--- The plugins that run for a request matched to `route_index`: for each
-- plugin name, the most specific instance (route and service, then route,
-- then service, then global), in the order the config lists them.
function declarative.plugins_for(config, route_index)
  local route = route_index and config.routes[route_index]
  local service_index = route and route.service

  local function rank(plugin)
    if plugin.route and plugin.service then
      return (plugin.route == route_index and plugin.service == service_index) and 4 or nil
    end
    if plugin.route then
      return plugin.route == route_index and 3 or nil
    end
    if plugin.service then
      return (service_index ~= nil and plugin.service == service_index) and 2 or nil
    end
    return 1
  end

  local chosen = {}
  for position, plugin in ipairs(config.plugins) do
    local plugin_rank = rank(plugin)
    if plugin_rank then
      local current = chosen[plugin.name]
      if current == nil or plugin_rank > current.rank then
        chosen[plugin.name] = { rank = plugin_rank, position = position, plugin = plugin }
      end
    end
  end

  local list = {}
  for _, item in pairs(chosen) do
    insert(list, item)
  end
  sort(list, function(a, b) return a.position < b.position end)
  local plugins = {}
  for i, item in ipairs(list) do
    plugins[i] = item.plugin
  end
  return plugins
end


return declarative
