-- Name resolution as Kong does it: the hosts file first, then the nameservers
-- of resolv.conf (or KONG_DNS_RESOLVER), asking for A records over UDP.
-- Used by the balancer for upstream targets and by every cosocket, since
-- Kong patches ngx.socket.tcp the same way.
--
-- configure() runs in the master (init), where files may be read; resolve()
-- runs in workers, in phases that may yield.

local bit = require "bit"


local ngx = ngx
local band = bit.band
local byte = string.byte
local char = string.char
local concat = table.concat
local tonumber = tonumber


local dns = {}


local QUERY_TIMEOUT_MS = 2000
local MIN_TTL = 1
local MAX_TTL = 300

local hosts = {}
local nameservers = {}
local cache
local next_id = 0


local function is_ipv4(host)
  return host:match("^%d+%.%d+%.%d+%.%d+$") ~= nil
end


local function is_ip(host)
  return is_ipv4(host) or host:find(":", 1, true) ~= nil
end


-- The kind Kong's router records for a Service host: "ipv4", "ipv6" or "name".
function dns.host_kind(host)
  if is_ipv4(host) then
    return "ipv4"
  end
  return host:find(":", 1, true) and "ipv6" or "name"
end


local function read_file(path)
  local file = io.open(path, "r")
  if not file then
    return nil
  end
  local content = file:read("*a")
  file:close()
  return content
end


local function parse_hosts(content)
  local entries = {}
  for line in content:gmatch("[^\n]+") do
    line = line:gsub("#.*$", "")
    local address, names = line:match("^%s*(%S+)%s+(.+)$")
    if address and is_ipv4(address) then
      for name in names:gmatch("%S+") do
        name = name:lower()
        if not entries[name] then
          entries[name] = address
        end
      end
    end
  end
  return entries
end


local function parse_resolver_list(text)
  local servers = {}
  for entry in text:gmatch("[^,%s]+") do
    local address, port = entry:match("^([%d.]+):?(%d*)$")
    if not address then
      return nil, "invalid nameserver '" .. entry .. "': expected ip[:port]"
    end
    servers[#servers + 1] = { address, tonumber(port) or 53 }
  end
  return servers
end


local function parse_resolv_conf(content)
  local servers = {}
  for address in content:gmatch("\n?%s*nameserver%s+([%d.]+)") do
    servers[#servers + 1] = { address, 53 }
  end
  return servers
end


--- Reads the hosts file and the nameserver list. Called once in init.
function dns.configure(options)
  -- required here, not at load: it needs ngx, which unit specs do without
  cache = require("resty.lrucache").new(1000)

  local hosts_content = read_file(options.hostsfile or "/etc/hosts")
  hosts = hosts_content and parse_hosts(hosts_content) or {}
  hosts.localhost = hosts.localhost or "127.0.0.1"

  if options.resolver and options.resolver ~= "" then
    local servers, err = parse_resolver_list(options.resolver)
    if not servers then
      return nil, "KONG_DNS_RESOLVER: " .. err
    end
    nameservers = servers
  else
    local resolv = read_file(options.resolv_conf or "/etc/resolv.conf")
    nameservers = resolv and parse_resolv_conf(resolv) or {}
  end
  return true
end


local function encode_name(name)
  local labels = {}
  for label in name:gmatch("[^.]+") do
    labels[#labels + 1] = char(#label) .. label
  end
  labels[#labels + 1] = "\0"
  return concat(labels)
end


local function u16(data, pos)
  local high, low = byte(data, pos, pos + 1)
  return high * 256 + low
end


local function u32(data, pos)
  return u16(data, pos) * 65536 + u16(data, pos + 2)
end


-- Returns the position just after a (possibly compressed) name.
local function skip_name(data, pos)
  while true do
    local length = byte(data, pos)
    if not length then
      return nil
    end
    if length == 0 then
      return pos + 1
    end
    if band(length, 0xC0) == 0xC0 then
      return pos + 2
    end
    pos = pos + 1 + length
  end
end


local function parse_answer(data, id)
  if #data < 12 or u16(data, 1) ~= id then
    return nil, "malformed DNS answer"
  end
  local rcode = band(byte(data, 4), 0x0F)
  if rcode == 3 then
    return nil, "name not found"
  elseif rcode ~= 0 then
    return nil, "DNS server answered rcode " .. rcode
  end

  local questions, answers = u16(data, 5), u16(data, 7)
  local pos = 13
  for _ = 1, questions do
    pos = skip_name(data, pos)
    if not pos then
      return nil, "malformed DNS answer"
    end
    pos = pos + 4
  end

  for _ = 1, answers do
    pos = skip_name(data, pos)
    if not pos or pos + 10 > #data then
      return nil, "malformed DNS answer"
    end
    local record_type, ttl, length = u16(data, pos), u32(data, pos + 4), u16(data, pos + 8)
    local rdata = pos + 10
    if record_type == 1 and length == 4 then
      local a, b, c, d = byte(data, rdata, rdata + 3)
      return a .. "." .. b .. "." .. c .. "." .. d, ttl
    end
    pos = rdata + length
  end
  return nil, "no A record"
end


local function query(name)
  if #nameservers == 0 then
    return nil, "no nameserver configured"
  end

  next_id = (next_id + 1) % 65536
  local id = next_id
  local packet = char(math.floor(id / 256), id % 256) .. "\1\0\0\1\0\0\0\0\0\0"
    .. encode_name(name) .. "\0\1\0\1"

  local last_err
  for _, server in ipairs(nameservers) do
    local sock = ngx.socket.udp()
    sock:settimeout(QUERY_TIMEOUT_MS)
    local ok, err = sock:setpeername(server[1], server[2])
    if ok then
      ok, err = sock:send(packet)
    end
    local data
    if ok then
      data, err = sock:receive()
    end
    sock:close()
    if data then
      local address, ttl_or_err = parse_answer(data, id)
      if address then
        return address, ttl_or_err
      end
      last_err = ttl_or_err
    else
      last_err = err
    end
  end
  return nil, last_err
end


--- The IPv4 address for a host name, or nil and a reason. IP literals pass through.
function dns.resolve(host)
  if is_ip(host) then
    return host
  end
  local name = host:lower()
  local from_hosts = hosts[name]
  if from_hosts then
    return from_hosts
  end

  local cached = cache:get(name)
  if cached then
    return cached
  end

  local address, ttl_or_err = query(name)
  if not address then
    return nil, "failed to resolve " .. host .. ": " .. tostring(ttl_or_err)
  end
  local ttl = math.min(math.max(ttl_or_err, MIN_TTL), MAX_TTL)
  cache:set(name, address, ttl)
  return address
end


--- Makes every cosocket resolve names through dns.resolve, as Kong does.
function dns.patch_tcp()
  local original_tcp = ngx.socket.tcp
  ngx.socket.tcp = function() -- luacheck: ignore 122 (Kong patches it the same way)
    local sock, err = original_tcp()
    if not sock then
      return nil, err
    end
    local original_connect = sock.connect
    sock.connect = function(self, host, port, ...)
      if type(port) ~= "number" or host:sub(1, 5) == "unix:" then
        return original_connect(self, host, port, ...)
      end
      local address, resolve_err = dns.resolve(host)
      if not address then
        return nil, resolve_err
      end
      return original_connect(self, address, port, ...)
    end
    return sock
  end
end


dns._parse_hosts = parse_hosts
dns._parse_resolv_conf = parse_resolv_conf
dns._parse_answer = parse_answer


return dns
