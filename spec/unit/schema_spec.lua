-- The plugin's own schema, as the local runtime's Kong-compatible validator
-- applies it: the identity and cloud fields this plugin adds to ai-proxy's.

local schema = require "localkong.schema"
local plugin_schema = require "kong.plugins.ai-proxy-azure.schema"

local CLIENT = "aabdecea-fc38-40ca-9edd-263878b290fe"
local OBJECT = "0b1d7e3c-6a42-4f1e-9d59-3c2f1a7b8e90"
local RESOURCE_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kong"


local function process(auth, options)
  local model_options = { azure_instance = "contoso", azure_deployment_id = "gpt" }
  for key, value in pairs(options or {}) do
    model_options[key] = value
  end
  return schema.process_plugin(plugin_schema, {
    name = "ai-proxy-azure",
    config = {
      route_type = "llm/v1/chat",
      auth = auth,
      model = { provider = "azure", options = model_options },
    },
  })
end


describe("Plugin: ai-proxy-azure (schema)", function()
  describe("accepts", function()
    for _, case in ipairs({
      { what = "a user-assigned identity by object id", auth = { azure_use_managed_identity = true, azure_object_id = OBJECT } },
      { what = "a user-assigned identity by resource id",
        auth = { azure_use_managed_identity = true, azure_resource_id = RESOURCE_ID } },
      { what = "an upstream_url with a port and a query",
        options = { upstream_url = "https://10.0.0.7:8443/openai/deployments/gpt/chat/completions?api-version=2024-10-21" } },
      { what = "an explicit token scope",
        auth = { azure_use_managed_identity = true, azure_token_scope = "https://cognitiveservices.azure.us/.default" } },
    }) do
      it(case.what, function()
        local conf, err = process(case.auth, case.options)

        assert.is_nil(err)
        assert.is_table(conf)
      end)
    end

    it("each cloud, and a host suffix and the v1 API", function()
      for _, cloud in ipairs({ "public", "usgovernment", "china" }) do
        local conf = assert(process(nil, {
          azure_cloud = cloud, azure_host_suffix = "cognitiveservices.azure.com", azure_api_style = "v1",
        }))
        assert.equal(cloud, conf.model.options.azure_cloud)
      end
    end)
  end)


  it("defaults to the public cloud and the deployments API", function()
    local conf = assert(process(nil))

    assert.equal("public", conf.model.options.azure_cloud)
    assert.equal("deployments", conf.model.options.azure_api_style)
    assert.is_nil(conf.model.options.azure_host_suffix)
  end)


  describe("refuses", function()
    for _, case in ipairs({
      {
        what = "a client id and an object id together",
        auth = { azure_use_managed_identity = true, azure_client_id = CLIENT, azure_object_id = OBJECT },
        err = "set at most one of azure_client_id, azure_object_id and azure_resource_id",
      },
      {
        what = "an object id and a resource id together",
        auth = { azure_use_managed_identity = true, azure_object_id = OBJECT, azure_resource_id = RESOURCE_ID },
        err = "set at most one of azure_client_id, azure_object_id and azure_resource_id",
      },
      {
        what = "an object id without the identity switch",
        auth = { azure_object_id = OBJECT },
        err = "azure_object_id is used only with azure_use_managed_identity: true",
      },
      {
        what = "a token scope without the identity switch",
        auth = { azure_token_scope = "https://cognitiveservices.azure.us/.default" },
        err = "azure_token_scope is used only with azure_use_managed_identity: true",
      },
      {
        what = "a resource id that is not an ARM id",
        auth = { azure_use_managed_identity = true, azure_resource_id = "kong-identity" },
        err = "config.auth.azure_resource_id",
      },
      {
        what = "a scope without /.default",
        auth = { azure_use_managed_identity = true, azure_token_scope = "https://cognitiveservices.azure.us" },
        err = "config.auth.azure_token_scope",
      },
      {
        what = "a scope that is not https",
        auth = { azure_use_managed_identity = true, azure_token_scope = "http://cognitiveservices.azure.us/.default" },
        err = "config.auth.azure_token_scope",
      },
      { what = "an unknown cloud", options = { azure_cloud = "germany" }, err = "config.model.options.azure_cloud" },
      { what = "an unknown API style", options = { azure_api_style = "v2" }, err = "config.model.options.azure_api_style" },
      {
        what = "an upstream_url whose port is out of range, which Kong's url type lets through",
        options = { upstream_url = "http://127.0.0.1:99999/openai" },
        err = "config.model.options.upstream_url: failed to parse URL: port out of range",
      },
      {
        what = "an upstream_url whose port is not a number",
        options = { upstream_url = "https://contoso.openai.azure.com:abc/openai" },
        err = "config.model.options.upstream_url: failed to parse URL: bad host or port",
      },
      {
        what = "an upstream_url that is not http or https",
        options = { upstream_url = "ftp://contoso.openai.azure.com/openai" },
        err = "config.model.options.upstream_url: failed to parse URL: unsupported scheme ftp",
      },
      {
        what = "an upstream_url with no host",
        options = { upstream_url = "http:///openai" },
        err = "config.model.options.upstream_url: failed to parse URL: no host",
      },
      {
        what = "a host suffix with a path",
        options = { azure_host_suffix = "openai.azure.com/evil" },
        err = "config.model.options.azure_host_suffix",
      },
    }) do
      it(case.what, function()
        local conf, err = process(case.auth, case.options)

        assert.is_nil(conf)
        assert.matches(case.err, err, 1, true)
      end)
    end
  end)
end)
