package = "kong-plugin-ai-proxy-azure"
version = "0.1.0-1"

-- The Lua modules are built from TypeScript: run `npm run build` before
-- `luarocks make`, or install the packed .rock (`npm run pack`), which needs
-- no Node.
source = {
  url = "git+file:///kong-plugin-ai-proxy-azure",
  tag = "v0.1.0",
}

description = {
  summary = "Kong plugin: Azure OpenAI signed with a Microsoft Entra token from the host's identity",
  detailed = [[
    ai-proxy-azure proxies OpenAI-format chat, completion and embedding
    requests to Azure OpenAI. It takes the same configuration as Kong's
    ai-proxy for an Azure model and signs each request with a token from the
    host's managed identity, an AKS workload identity, the App Service identity
    endpoint or an Entra app registration, so that no key lives in Kong.
  ]],
  license = "Apache-2.0",
}

dependencies = {
  "lua >= 5.1",
}

build = {
  type = "builtin",
  modules = {
    ["kong.plugins.ai-proxy-azure.azure_endpoint"] = "build/lua/kong/plugins/ai-proxy-azure/azure_endpoint.lua",
    ["kong.plugins.ai-proxy-azure.handler"] = "build/lua/kong/plugins/ai-proxy-azure/handler.lua",
    ["kong.plugins.ai-proxy-azure.http"] = "build/lua/kong/plugins/ai-proxy-azure/http.lua",
    ["kong.plugins.ai-proxy-azure.identity.app_service"] = "build/lua/kong/plugins/ai-proxy-azure/identity/app_service.lua",
    ["kong.plugins.ai-proxy-azure.identity.arc"] = "build/lua/kong/plugins/ai-proxy-azure/identity/arc.lua",
    ["kong.plugins.ai-proxy-azure.identity.client_credentials"] = "build/lua/kong/plugins/ai-proxy-azure/identity/client_credentials.lua",
    ["kong.plugins.ai-proxy-azure.identity.common"] = "build/lua/kong/plugins/ai-proxy-azure/identity/common.lua",
    ["kong.plugins.ai-proxy-azure.identity.entra"] = "build/lua/kong/plugins/ai-proxy-azure/identity/entra.lua",
    ["kong.plugins.ai-proxy-azure.identity.env"] = "build/lua/kong/plugins/ai-proxy-azure/identity/env.lua",
    ["kong.plugins.ai-proxy-azure.identity.expiry"] = "build/lua/kong/plugins/ai-proxy-azure/identity/expiry.lua",
    ["kong.plugins.ai-proxy-azure.identity.imds"] = "build/lua/kong/plugins/ai-proxy-azure/identity/imds.lua",
    ["kong.plugins.ai-proxy-azure.identity.legacy_msi"] = "build/lua/kong/plugins/ai-proxy-azure/identity/legacy_msi.lua",
    ["kong.plugins.ai-proxy-azure.identity.managed_identity"] = "build/lua/kong/plugins/ai-proxy-azure/identity/managed_identity.lua",
    ["kong.plugins.ai-proxy-azure.identity.source"] = "build/lua/kong/plugins/ai-proxy-azure/identity/source.lua",
    ["kong.plugins.ai-proxy-azure.identity.workload_identity"] = "build/lua/kong/plugins/ai-proxy-azure/identity/workload_identity.lua",
    ["kong.plugins.ai-proxy-azure.json"] = "build/lua/kong/plugins/ai-proxy-azure/json.lua",
    ["kong.plugins.ai-proxy-azure.observability"] = "build/lua/kong/plugins/ai-proxy-azure/observability.lua",
    ["kong.plugins.ai-proxy-azure.request_state"] = "build/lua/kong/plugins/ai-proxy-azure/request_state.lua",
    ["kong.plugins.ai-proxy-azure.schema"] = "build/lua/kong/plugins/ai-proxy-azure/schema.lua",
    ["kong.plugins.ai-proxy-azure.token_cache"] = "build/lua/kong/plugins/ai-proxy-azure/token_cache.lua",
    ["kong.plugins.ai-proxy-azure.url"] = "build/lua/kong/plugins/ai-proxy-azure/url.lua",
  },
}
