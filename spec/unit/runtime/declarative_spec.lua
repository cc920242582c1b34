local declarative = require "localkong.declarative"


local SAMPLE = dofile("spec/fixtures/runtime/sample_plugin_schema.lua")


-- A second, trivial plugin, to see precedence across plugin names.
local MARKER = {
  name = "marker",
  fields = { { config = { type = "record", fields = {
    { label = { type = "string", required = true } },
  } } } },
}


local SCHEMAS = { ["sample-llm"] = SAMPLE, marker = MARKER }


local SAMPLE_CONFIG = {
  route_type = "llm/v1/chat",
  model = { provider = "azure", options = { instance = "contoso", deployment = "gpt" } },
}


local function marker(label, scope)
  local plugin = { name = "marker", config = { label = label } }
  for key, value in pairs(scope or {}) do
    plugin[key] = value
  end
  return plugin
end


-- A kong.yml the way the launcher hands it over: YAML decoded to tables.
local function document()
  return {
    _format_version = "3.0",
    _transform = true,
    services = {
      {
        name = "azure",
        url = "https://contoso.openai.azure.com/openai",
        tags = { "llm" },
        routes = {
          { name = "chat", paths = { "/chat" }, methods = { "POST" },
            plugins = { { name = "sample-llm", config = SAMPLE_CONFIG }, marker("route chat") } },
          { name = "chat-long", paths = { "/chat/completions" } },
        },
        plugins = { marker("service azure") },
      },
      { name = "local", protocol = "http", host = "127.0.0.1", port = 9000 },
    },
    routes = {
      { name = "misc", paths = { "/", "/misc" }, service = { name = "local" },
        strip_path = false, preserve_host = true },
      { name = "bare", paths = { "/bare" }, service = "azure" },
    },
    plugins = {
      marker("global"),
      marker("service local", { service = "local" }),
    },
  }
end


local function load(doc)
  return declarative.load(doc, SCHEMAS)
end


describe("local runtime declarative config", function()

  describe("when the file is valid", function()
    it("normalizes services from a url or from separate fields", function()
      local config = assert(load(document()))
      assert.same({ "azure", "https", "contoso.openai.azure.com", 443, "/openai" }, {
        config.services[1].name, config.services[1].protocol, config.services[1].host,
        config.services[1].port, config.services[1].path })
      assert.same({ "local", "http", "127.0.0.1", 9000 }, {
        config.services[2].name, config.services[2].protocol, config.services[2].host,
        config.services[2].port })
      assert.is_nil(config.services[2].path)
      assert.equal(60000, config.services[2].read_timeout)
    end)

    it("gives a service Kong's port 80 when only the protocol is https", function()
      local doc = document()
      doc.services[2] = { name = "local", protocol = "https", host = "example.com" }
      local config = assert(load(doc))
      assert.equal(80, config.services[2].port)
    end)

    it("links nested routes to their service and top-level routes by name", function()
      local config = assert(load(document()))
      local by_name = {}
      for index, route in ipairs(config.routes) do
        by_name[route.name] = { index = index, route = route }
      end
      assert.equal(1, by_name.chat.route.service)
      assert.equal(2, by_name.misc.route.service)
      assert.equal(1, by_name.bare.route.service)
    end)

    it("applies Kong's route defaults", function()
      local config = assert(load(document()))
      local chat = config.routes[1]
      assert.is_true(chat.strip_path)
      assert.is_false(chat.preserve_host)
      assert.same({ "POST" }, chat.methods)
      local misc = config.routes[3]
      assert.is_false(misc.strip_path)
      assert.is_true(misc.preserve_host)
    end)

    it("processes plugin configs through their schema", function()
      local config = assert(load(document()))
      local plugin = config.plugins[1]
      assert.equal("sample-llm", plugin.name)
      assert.equal(1, plugin.route)
      assert.is_nil(plugin.service)
      assert.equal("allow", plugin.config.response_streaming)
    end)

    it("skips disabled plugins", function()
      local doc = document()
      doc.plugins[1].enabled = false
      local config = assert(load(doc))
      for _, plugin in ipairs(config.plugins) do
        assert.are_not.equal("global", plugin.config.label)
      end
    end)

    it("accepts a file with nothing but the version", function()
      assert.same({ services = {}, routes = {}, plugins = {} }, load({ _format_version = "3.0" }))
    end)
  end)


  describe("when the file is wrong", function()
    local cases = {
      { "the version is missing",
        function(doc) doc._format_version = nil end,
        "_format_version: required field missing" },
      { "the version is another one",
        function(doc) doc._format_version = "2.1" end,
        "_format_version: unsupported version '2.1'" },
      { "the version is a YAML number",
        function(doc) doc._format_version = 3 end,
        "_format_version: expected the string \"3.0\"" },
      { "a nested route has no paths",
        function(doc) doc.services[1].routes[2].paths = nil end,
        "services[1].routes[2].paths: required" },
      { "a route uses a regex path",
        function(doc) doc.routes[1].paths = { "~/v1/.*$" } end,
        "routes[1].paths[1]: regex paths are not supported by the local runtime" },
      { "a route matches on hosts",
        function(doc) doc.routes[1].hosts = { "example.com" } end,
        "routes[1].hosts: not supported by the local runtime" },
      { "a route names a missing service",
        function(doc) doc.routes[2].service = { name = "nope" } end,
        "routes[2].service: no service named 'nope'" },
      { "a key is unknown",
        function(doc) doc.services[1].routes[1].strip_paths = true end,
        "services[1].routes[1].strip_paths: unknown field" },
      { "a top-level collection is not served",
        function(doc) doc.consumers = {} end,
        "consumers: not supported by the local runtime" },
      { "a top-level key is unknown",
        function(doc) doc.servicez = {} end,
        "servicez: unknown field" },
      { "a plugin is not enabled",
        function(doc) doc.plugins[1] = { name = "rate-limiting" } end,
        "plugins[1].name: plugin 'rate-limiting' is not enabled in this runtime" },
      { "a plugin config is invalid",
        function(doc) doc.services[1].routes[1].plugins[1].config = { route_type = "x",
          model = SAMPLE_CONFIG.model } end,
        "services[1].routes[1].plugins[1]: sample-llm: config.route_type: expected one of" },
      { "a plugin is configured twice for one scope",
        function(doc) table.insert(doc.plugins, marker("again")) end,
        "plugins[3]: plugin 'marker' is already configured globally at plugins[1]" },
      { "a plugin names a missing route",
        function(doc) doc.plugins[2] = marker("x", { route = { name = "nope" } }) end,
        "plugins[2].route: no route named 'nope'" },
      { "a nested plugin names its own scope",
        function(doc) doc.services[1].plugins[1].route = "chat" end,
        "services[1].plugins[1].route: not allowed in a plugin nested under a service or route" },
      { "a plugin is scoped to a consumer",
        function(doc) doc.plugins[1].consumer = { username = "alice" } end,
        "plugins[1].consumer: not supported by the local runtime" },
      { "a service has no host",
        function(doc) doc.services[2].host = nil end,
        "services[2].host: required field missing" },
      { "a service url cannot be parsed",
        function(doc) doc.services[1].url = "contoso" end,
        "services[1].url: could not parse url 'contoso'" },
      { "one service verifies upstream TLS and another does not",
        function(doc)
          doc.ca_certificates = { { id = "ca-1", cert = "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n" } }
          doc.services[1].tls_verify = true
          doc.services[1].ca_certificates = { "ca-1" }
        end,
        "services[2].tls_verify: the local runtime verifies upstream TLS for every service or for none, "
          .. "and services[1] sets tls_verify" },
      { "a service verifies upstream TLS against no CA certificate",
        function(doc)
          for _, service in ipairs(doc.services) do service.tls_verify = true end
        end,
        "services[1].ca_certificates: required with tls_verify here" },
      { "a service names a CA certificate that is not there",
        function(doc) doc.services[1].ca_certificates = { "ca-9" } end,
        "services[1].ca_certificates[1]: no CA certificate with id 'ca-9'" },
      { "a CA certificate is not PEM",
        function(doc) doc.ca_certificates = { { id = "ca-1", cert = "not a certificate" } } end,
        "ca_certificates[1].cert: expected a PEM certificate" },
      { "a service port is out of range",
        function(doc) doc.services[2].port = 70000 end,
        "services[2].port: value should be between 0 and 65535" },
      { "two routes share a name",
        function(doc) doc.routes[2].name = "chat" end,
        "routes[2].name: route name 'chat' is already used" },
      { "strip_path is not a boolean",
        function(doc) doc.routes[1].strip_path = "no" end,
        "routes[1].strip_path: expected a boolean" },
    }

    for _, case in ipairs(cases) do
      local description, change, expected = case[1], case[2], case[3]
      it("refuses it when " .. description, function()
        local doc = document()
        change(doc)
        local config, err = load(doc)
        assert.is_nil(config)
        assert.matches(expected, err, 1, true)
      end)
    end

    it("reports every problem, not only the first", function()
      local doc = document()
      doc.routes[1].hosts = { "example.com" }
      doc.services[2].port = -1
      local config, err = load(doc)
      assert.is_nil(config)
      assert.matches("services[2].port", err, 1, true)
      assert.matches("routes[1].hosts", err, 1, true)
    end)

    it("returns an error for a document that is not a table", function()
      local config, err = declarative.load("services: []", SCHEMAS)
      assert.is_nil(config)
      assert.equal("declarative config: expected a table", err)
    end)
  end)


  describe("route matching", function()
    local config = assert(load(document()))

    local cases = {
      { "/chat/completions", "POST", "chat-long", "/chat/completions" },
      { "/chat", "POST", "chat", "/chat" },
      { "/chat/other", "POST", "chat", "/chat" },
      { "/chat/other", "GET", "misc", "/" },
      { "/chatter", "POST", "chat", "/chat" },
      { "/misc/x", "GET", "misc", "/misc" },
      { "/bare", "GET", "bare", "/bare" },
    }

    for _, case in ipairs(cases) do
      local path, method, route_name, prefix = case[1], case[2], case[3], case[4]
      it("sends " .. method .. " " .. path .. " to route " .. route_name, function()
        local index, route, matched = declarative.match_route(config, path, method)
        assert.is_number(index)
        assert.equal(route_name, route.name)
        assert.equal(prefix, matched)
      end)
    end

    it("matches nothing when no prefix fits", function()
      local only_chat = assert(load({ _format_version = "3.0", routes = {
        { name = "chat", paths = { "/chat" } } } }))
      assert.is_nil(declarative.match_route(only_chat, "/other", "GET"))
    end)
  end)


  describe("plugin precedence", function()
    local config = assert(load(document()))

    local function labels_for(route_name)
      for index, route in ipairs(config.routes) do
        if route.name == route_name then
          local labels = {}
          for _, plugin in ipairs(declarative.plugins_for(config, index)) do
            labels[plugin.name] = plugin.config.label or true
          end
          return labels
        end
      end
    end

    local cases = {
      { "chat", { ["sample-llm"] = true, marker = "route chat" } },
      { "chat-long", { marker = "service azure" } },
      { "misc", { marker = "service local" } },
      { "bare", { marker = "service azure" } },
    }

    for _, case in ipairs(cases) do
      it("runs the most specific instance of each plugin on route " .. case[1], function()
        assert.same(case[2], labels_for(case[1]))
      end)
    end

    it("falls back to global plugins for a route without a service", function()
      local doc = document()
      table.insert(doc.routes, { name = "orphan", paths = { "/orphan" } })
      local with_orphan = assert(load(doc))
      local index = declarative.match_route(with_orphan, "/orphan", "GET")
      local plugins = declarative.plugins_for(with_orphan, index)
      assert.equal(1, #plugins)
      assert.equal("global", plugins[1].config.label)
    end)

    it("prefers a route-and-service plugin over a route plugin", function()
      local doc = document()
      doc.services[1].routes[2].plugins = { marker("route only") }
      table.insert(doc.plugins, marker("route and service",
                                       { route = "chat-long", service = "azure" }))
      local both = assert(load(doc))
      local index = declarative.match_route(both, "/chat/completions", "POST")
      assert.equal("route and service", declarative.plugins_for(both, index)[1].config.label)
    end)
  end)
end)
