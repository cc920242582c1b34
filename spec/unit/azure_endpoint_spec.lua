-- Where a route's requests go in each Azure cloud, and which audience its
-- tokens name.

local endpoint = require "kong.plugins.ai-proxy-azure.azure_endpoint"


local function options(overrides)
  local result = {
    azure_instance = "contoso", azure_deployment_id = "gpt-4o", azure_cloud = "public",
    azure_api_style = "deployments",
  }
  for key, value in pairs(overrides or {}) do
    result[key] = value
  end
  return result
end


describe("Azure OpenAI endpoint", function()
  describe("its URL", function()
    for _, case in ipairs({
      { what = "in the public cloud", route = "llm/v1/chat", options = {},
        url = "https://contoso.openai.azure.com/openai/deployments/gpt-4o/chat/completions" },
      { what = "in US Government", route = "llm/v1/completions", options = { azure_cloud = "usgovernment" },
        url = "https://contoso.openai.azure.us/openai/deployments/gpt-4o/completions" },
      { what = "in China", route = "llm/v1/embeddings", options = { azure_cloud = "china" },
        url = "https://contoso.openai.azure.cn/openai/deployments/gpt-4o/embeddings" },
      { what = "on a Cognitive Services resource", route = "llm/v1/chat",
        options = { azure_host_suffix = "cognitiveservices.azure.com" },
        url = "https://contoso.cognitiveservices.azure.com/openai/deployments/gpt-4o/chat/completions" },
      { what = "with a host suffix over the cloud's", route = "llm/v1/chat",
        options = { azure_cloud = "china", azure_host_suffix = "cognitiveservices.azure.cn" },
        url = "https://contoso.cognitiveservices.azure.cn/openai/deployments/gpt-4o/chat/completions" },
      { what = "for the v1 API, without the deployment", route = "llm/v1/chat", options = { azure_api_style = "v1" },
        url = "https://contoso.openai.azure.com/openai/v1/chat/completions" },
      { what = "for v1 embeddings", route = "llm/v1/embeddings", options = { azure_api_style = "v1" },
        url = "https://contoso.openai.azure.com/openai/v1/embeddings" },
    }) do
      it(case.what, function()
        assert.equal(case.url, endpoint.azure_url(case.route, options(case.options)))
      end)
    end
  end)


  describe("its token audience", function()
    for _, case in ipairs({
      { cloud = "public", resource = "https://cognitiveservices.azure.com", authority = "https://login.microsoftonline.com" },
      { cloud = "usgovernment", resource = "https://cognitiveservices.azure.us", authority = "https://login.microsoftonline.us" },
      { cloud = "china", resource = "https://cognitiveservices.azure.cn", authority = "https://login.chinacloudapi.cn" },
    }) do
      it("and authority follow the " .. case.cloud .. " cloud", function()
        local cloud_options = options({ azure_cloud = case.cloud })

        assert.equal(case.resource, endpoint.token_resource({}, cloud_options))
        assert.equal(case.authority, endpoint.cloud_of(cloud_options).authority_host)
      end)
    end

    it("is the configured scope without /.default when one is set", function()
      local auth = { azure_token_scope = "https://ai.azure.us/.default" }

      assert.equal("https://ai.azure.us", endpoint.token_resource(auth, options({ azure_cloud = "usgovernment" })))
    end)
  end)
end)
