local schema = require "localkong.schema"
local typedefs = require "kong.db.schema.typedefs"


local SAMPLE = dofile("spec/fixtures/runtime/sample_plugin_schema.lua")


-- The smallest config the sample schema accepts.
local function minimal_config(overrides)
  local config = {
    route_type = "llm/v1/chat",
    model = { provider = "azure", options = { instance = "contoso", deployment = "gpt" } },
  }
  for key, value in pairs(overrides or {}) do
    config[key] = value
  end
  return config
end


local function process(config, extra)
  local entry = { name = "sample-llm", config = config }
  for key, value in pairs(extra or {}) do
    entry[key] = value
  end
  return schema.process_plugin(SAMPLE, entry)
end


describe("local runtime schema", function()

  describe("when the config is valid", function()
    it("applies defaults of scalar fields", function()
      local conf = assert(process(minimal_config()))
      assert.equal("allow", conf.response_streaming)
      assert.equal(8192, conf.max_request_body_size)
      assert.equal("2023-05-15", conf.model.options.api_version)
    end)

    it("builds an absent record that is not optional, with its nested defaults", function()
      local conf = assert(process(minimal_config()))
      assert.same({ log_statistics = false, log_payloads = false }, conf.logging)
    end)

    it("leaves an absent record marked required = false unset", function()
      local conf = assert(process(minimal_config()))
      assert.is_nil(conf.auth)
    end)

    it("hands the handler nil, not ngx.null, for unset fields", function()
      local conf = assert(process(minimal_config({ stop = schema.null })))
      assert.is_nil(conf.stop)
      assert.is_nil(conf.model.name)
      assert.is_nil(conf.model.options.temperature)
    end)

    it("gives no default to a field set to null explicitly", function()
      local conf = assert(process(minimal_config({ response_streaming = schema.null })))
      assert.is_nil(conf.response_streaming)
    end)

    it("keeps given values over defaults", function()
      local conf = assert(process(minimal_config({
        response_streaming = "deny",
        logging = { log_payloads = true },
      })))
      assert.equal("deny", conf.response_streaming)
      assert.same({ log_statistics = false, log_payloads = true }, conf.logging)
    end)

    it("removes duplicates from sets", function()
      local conf = assert(process(minimal_config({ scopes = { "a", "b", "a" } })))
      assert.same({ "a", "b" }, conf.scopes)
    end)

    it("accepts the documented protocols and refuses a consumer scope", function()
      assert.truthy(process(minimal_config(), { protocols = { "https" } }))
      local conf, err = process(minimal_config(), { consumer = { id = "c1" } })
      assert.is_nil(conf)
      assert.equal("sample-llm: consumer: value must be null", err)
    end)

    it("does not change the schema it reads", function()
      assert(process(minimal_config()))
      local config_def = SAMPLE.fields[3].config
      assert.is_nil(config_def.required)
      assert.is_nil(config_def.fields[4].logging.required)
    end)
  end)


  describe("when a field is wrong", function()
    local cases = {
      { "a required field is missing",
        minimal_config({ route_type = schema.null }),
        "sample-llm: config.route_type: required field missing" },
      { "a field is unknown",
        minimal_config({ auth = { header_name = "api-key", header_value = "k", foo = 1 } }),
        "sample-llm: config.auth.foo: unknown field" },
      { "a value is not among the choices",
        minimal_config({ route_type = "llm/v1/embeddings" }),
        "sample-llm: config.route_type: expected one of: llm/v1/chat, llm/v1/completions" },
      { "a number is out of range",
        minimal_config({ model = { provider = "azure",
                                   options = { instance = "i", temperature = 5.5 } } }),
        "sample-llm: config.model.options.temperature: value should be between 0 and 5" },
      { "an integer is not whole",
        minimal_config({ max_request_body_size = 1.5 }),
        "sample-llm: config.max_request_body_size: expected an integer" },
      { "an integer is not greater than the limit",
        minimal_config({ max_request_body_size = 0 }),
        "sample-llm: config.max_request_body_size: value must be greater than 0" },
      { "a string is empty",
        minimal_config({ model = { provider = "azure", name = "", options = { instance = "i" } } }),
        "sample-llm: config.model.name: length must be at least 1" },
      { "a string is too long (a conditional check on it fails too, as in Kong)",
        minimal_config({ model = { provider = "azure", options = { instance = ("x"):rep(65) } } }),
        "sample-llm: config.model: failed conditional validation given value of field 'provider'; "
        .. "config.model.options.instance: length must be at most 64" },
      { "a string does not match",
        minimal_config({ model = { provider = "azure",
                                   options = { instance = "i", api_version = "latest" } } }),
        "sample-llm: config.model.options.api_version: invalid value: latest" },
      { "a string matches a forbidden pattern",
        minimal_config({ model = { provider = "azure",
                                   options = { instance = "i", deployment = "a/b" } } }),
        "sample-llm: config.model.options.deployment: invalid value: a/b" },
      { "a match_none rule hits",
        minimal_config({ auth = { tenant_id = "my tenant" } }),
        "sample-llm: config.auth.tenant_id: must not contain spaces" },
      { "a prefix is missing",
        minimal_config({ model = { provider = "azure",
                                   options = { instance = "i", base_path = "v1" } } }),
        "sample-llm: config.model.options.base_path: should start with: /" },
      { "a custom validator refuses",
        minimal_config({ model = { provider = "azure",
                                   options = { instance = "i", base_path = "/v1/" } } }),
        "sample-llm: config.model.options.base_path: must not end with '/'" },
      { "a url has no scheme",
        minimal_config({ model = { provider = "azure",
                                   options = { instance = "i", upstream_url = "example.com/x" } } }),
        "sample-llm: config.model.options.upstream_url: missing host in url" },
      { "a record is given a string",
        minimal_config({ logging = "yes" }),
        "sample-llm: config.logging: expected a record" },
      { "a boolean is given a string",
        minimal_config({ logging = { log_payloads = "true" } }),
        "sample-llm: config.logging.log_payloads: expected a boolean" },
      { "an array element is wrong",
        minimal_config({ stop = { "ok", "much too long" } }),
        "sample-llm: config.stop[2]: length must be at most 8" },
      { "an array is given a map",
        minimal_config({ stop = { first = "x" } }),
        "sample-llm: config.stop: expected an array" },
      { "an array is too long",
        minimal_config({ stop = { "a", "b", "c", "d", "e" } }),
        "sample-llm: config.stop: length must be at most 4" },
      { "a map key is wrong",
        minimal_config({ extra_headers = { ["x y"] = "1" } }),
        "sample-llm: config.extra_headers.x y: bad header name 'x y': only letters, digits, '-' and '_' are allowed" },
      { "a map value is wrong",
        minimal_config({ extra_headers = { ["x-a"] = 1 } }),
        "sample-llm: config.extra_headers.x-a: expected a string" },
    }

    for _, case in ipairs(cases) do
      local description, config, expected = case[1], case[2], case[3]
      it("says so when " .. description, function()
        local conf, err = process(config)
        assert.is_nil(conf)
        assert.equal(expected, err)
      end)
    end

    it("reports every error, sorted by path", function()
      local conf, err = process({
        route_type = "bad",
        auth = { foo = true },
        model = { provider = "azure", options = { instance = "i", temperature = -1 } },
      })
      assert.is_nil(conf)
      assert.equal("sample-llm: config.auth.foo: unknown field; "
                   .. "config.model.options.temperature: value should be between 0 and 5; "
                   .. "config.route_type: expected one of: llm/v1/chat, llm/v1/completions", err)
    end)

    it("reports the nested required fields of a record built from nothing", function()
      local conf, err = process({ route_type = "llm/v1/chat" })
      assert.is_nil(conf)
      assert.equal("sample-llm: config.model.provider: required field missing", err)
    end)

    it("refuses an unknown key on the plugin entry", function()
      local conf, err = process(minimal_config(), { configs = {} })
      assert.is_nil(conf)
      assert.equal("sample-llm: configs: unknown field", err)
    end)
  end)


  describe("entity checks", function()
    local cases = {
      { "mutually_required with one of the pair",
        minimal_config({ auth = { header_name = "api-key" } }),
        "sample-llm: config.auth: all or none of these fields must be set: 'header_name', 'header_value'" },
      { "mutually_exclusive with both set",
        minimal_config({ auth = { header_name = "api-key", header_value = "k", client_id = "c" } }),
        "sample-llm: config.auth: only one or none of these fields must be set: 'header_value', 'client_id'" },
      { "conditional with a dotted then_field",
        minimal_config({ model = { provider = "azure", options = { deployment = "d" } } }),
        "sample-llm: config.model: failed conditional validation given value of field 'provider'; "
        .. "config.model.options.instance: required field missing" },
      { "conditional_at_least_one_of with its own message",
        minimal_config({ model = { provider = "openai" } }),
        "sample-llm: config: openai needs a credential: set one of 'auth.header_value', 'auth.use_managed_identity'" },
      { "custom_entity_check",
        minimal_config({ route_type = "llm/v1/completions", response_streaming = "always" }),
        "sample-llm: config: completions cannot always stream" },
    }

    for _, case in ipairs(cases) do
      local description, config, expected = case[1], case[2], case[3]
      it("fails " .. description, function()
        local conf, err = process(config)
        assert.is_nil(conf)
        assert.equal(expected, err)
      end)
    end

    it("passes conditional_at_least_one_of when one listed field is set", function()
      local conf = process(minimal_config({
        model = { provider = "openai" },
        auth = { use_managed_identity = true },
      }))
      assert.truthy(conf)
      assert.is_true(conf.auth.use_managed_identity)
    end)

    it("skips a check whose fields already failed, as Kong does", function()
      local conf, err = process(minimal_config({ auth = { header_name = "a b" } }))
      assert.is_nil(conf)
      assert.equal("sample-llm: config.auth.header_name: bad header name 'a b': "
                   .. "only letters, digits, '-' and '_' are allowed", err)
    end)

    local function tiny_schema(fields, checks, at_top)
      local config = { type = "record", fields = fields }
      local plugin = { name = "tiny", fields = { { config = config } } }
      if at_top then
        plugin.entity_checks = checks
      else
        config.entity_checks = checks
      end
      return plugin
    end

    local two_strings = {
      { a = { type = "string" } },
      { b = { type = "string" } },
    }

    local check_cases = {
      { "at_least_one_of", { { at_least_one_of = { "a", "b" } } }, {},
        "config: at least one of these fields must be non-empty: 'a', 'b'" },
      { "only_one_of", { { only_one_of = { "a", "b" } } }, { a = "x", b = "y" },
        "config: exactly one of these fields must be non-empty: 'a', 'b'" },
      { "mutually_exclusive_sets", { { mutually_exclusive_sets = { set1 = { "a" }, set2 = { "b" } } } },
        { a = "x", b = "y" },
        "config: these sets are mutually exclusive: ('a'), ('b')" },
      { "conditional with then_match", { { conditional = {
          if_field = "a", if_match = { eq = "x" },
          then_field = "b", then_match = { one_of = { "y" } } } } },
        { a = "x", b = "z" },
        "config: failed conditional validation given value of field 'a'; config.b: expected one of: y" },
    }

    for _, case in ipairs(check_cases) do
      local name, checks, config, expected = case[1], case[2], case[3], case[4]
      it("runs " .. name .. " placed on the record", function()
        local conf, err = schema.process_plugin(tiny_schema(two_strings, checks), { name = "tiny", config = config })
        assert.is_nil(conf)
        assert.equal("tiny: " .. expected, err)
      end)
    end

    it("treats an absent optional field as null, so only_one_of passes with one set", function()
      local plugin = tiny_schema(two_strings, { { only_one_of = { "a", "b" } } })
      assert.same({ a = "x" }, schema.process_plugin(plugin, { name = "tiny", config = { a = "x" } }))
    end)

    it("runs checks placed at the schema's top level with config.* names", function()
      local plugin = tiny_schema(two_strings, { { at_least_one_of = { "config.a", "config.b" } } }, true)
      local conf, err = schema.process_plugin(plugin, { name = "tiny", config = {} })
      assert.is_nil(conf)
      assert.equal("tiny: at least one of these fields must be non-empty: 'config.a', 'config.b'", err)
      assert.same({ a = "x" }, schema.process_plugin(plugin, { name = "tiny", config = { a = "x" } }))
    end)

    it("reports a custom check that throws instead of throwing", function()
      local plugin = tiny_schema(two_strings, { { custom_entity_check = {
        field_sources = { "a" }, fn = function() error("boom") end } } })
      local conf, err = schema.process_plugin(plugin, { name = "tiny", config = { a = "x" } })
      assert.is_nil(conf)
      assert.matches("^tiny: config: custom entity check failed: .*boom", err)
    end)
  end)


  describe("references", function()
    local plugin = {
      name = "tiny",
      fields = { { config = { type = "record", fields = {
        { secret = { type = "string", referenceable = true, encrypted = true, len_min = 10 } },
      } } } },
    }

    it("skips validators on a vault reference and resolves env references", function()
      local conf = assert(schema.process_plugin(plugin, {
        name = "tiny", config = { secret = "{vault://env/home}" } }))
      assert.equal(os.getenv("HOME"), conf.secret)
    end)

    it("refuses a vault other than env", function()
      local conf, err = schema.process_plugin(plugin, {
        name = "tiny", config = { secret = "{vault://aws/x}" } })
      assert.is_nil(conf)
      assert.matches("config.secret: only {vault://env/NAME} references", err, 1, true)
    end)
  end)


  describe("schema mistakes", function()
    it("names an attribute it does not know", function()
      local plugin = { name = "tiny", fields = { { config = { type = "record", fields = {
        { a = { type = "string", is_regex = true } } } } } } }
      local conf, err = schema.process_plugin(plugin, { name = "tiny", config = {} })
      assert.is_nil(conf)
      assert.equal("tiny: config.a: schema error: attribute 'is_regex' is not supported by the local runtime", err)
    end)

    it("returns an error instead of throwing when a validator does not fit the type", function()
      local plugin = { name = "tiny", fields = { { config = { type = "record", fields = {
        { a = { type = "boolean", between = { 1, 2 } } } } } } } }
      local conf, err = schema.process_plugin(plugin, { name = "tiny", config = { a = true } })
      assert.is_nil(conf)
      assert.matches("^tiny: schema error: ", err)
    end)
  end)


  describe("typedefs", function()
    local url_cases = {
      { "https://contoso.openai.azure.com/openai", true },
      { "http://127.0.0.1:8080", true },
      { "http://[::1]:8080/x", true },
      { "contoso.openai.azure.com", false, "missing host in url" },
      { "https://", false, "missing host in url" },
      { "ftp://host/x", true },
      { "http://host:99999/", true },
      { "http://host:abc/", true },
      { "mailto:a@b.c", false, "missing host in url" },
      { "http://:80/x", false, "missing host in url" },
      { "//host/path", false, "missing scheme in url" },
    }
    for _, case in ipairs(url_cases) do
      it("url " .. (case[2] and "accepts " or "refuses ") .. case[1], function()
        local ok, err = typedefs.url.custom_validator(case[1])
        assert.equal(case[2], ok == true)
        assert.equal(case[3], err)
      end)
    end

    local host_cases = {
      { "example.com", true },
      { "10.0.0.1", true },
      { "example.com:80", false, "must not have a port" },
      { "bad host", false, "invalid value: bad host" },
    }
    for _, case in ipairs(host_cases) do
      it("host " .. (case[2] and "accepts " or "refuses ") .. case[1], function()
        local ok, err = typedefs.host.custom_validator(case[1])
        assert.equal(case[2], ok == true)
        assert.equal(case[3], err)
      end)
    end

    it("can be called with overrides without changing the typedef", function()
      local field = typedefs.url { required = true }
      assert.is_true(field.required)
      assert.equal("string", field.type)
      assert.is_nil(typedefs.url.required)
    end)

    it("defaults protocols to the HTTP family", function()
      assert.same({ "grpc", "grpcs", "http", "https" }, typedefs.protocols_http.default)
      assert.same({ 0, 65535 }, typedefs.port.between)
    end)
  end)
end)
