-- Which token source a plugin config and the environment lead to, and what
-- the environment module captures when it loads.

local ENV_MODULE = "kong.plugins.ai-proxy-azure.identity.env"
local SOURCE_MODULE = "kong.plugins.ai-proxy-azure.identity.source"

local RESOURCE = "https://cognitiveservices.azure.com"
local SECRET = "s3cr3t-Value~1"
local TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
local CLIENT = "aabdecea-fc38-40ca-9edd-263878b290fe"
local OTHER_CLIENT = "11111111-2222-3333-4444-555555555555"
local OBJECT = "0b1d7e3c-6a42-4f1e-9d59-3c2f1a7b8e90"
local RESOURCE_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kong"
local APP_SERVICE = { IDENTITY_ENDPOINT = "http://localhost:41000/msi/token", IDENTITY_HEADER = "h34d3r" }
local ML = { MSI_ENDPOINT = "http://127.0.0.1:46808/msi/token", MSI_SECRET = "ml-s3cret" }
local CLOUD_SHELL = { MSI_ENDPOINT = "http://localhost:50342/oauth2/token" }
local ARC = {
  IDENTITY_ENDPOINT = "http://localhost:40342/metadata/identity/oauth2/token",
  IMDS_ENDPOINT = "http://localhost:40342",
}
local WORKLOAD = {
  AZURE_CLIENT_ID = CLIENT, AZURE_TENANT_ID = TENANT,
  AZURE_FEDERATED_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token",
}


-- The union of environments, later ones winning.
local function merge(...)
  local merged = {}
  for _, vars in ipairs({ ... }) do
    for name, value in pairs(vars) do
      merged[name] = value
    end
  end
  return merged
end


-- Loads the identity modules afresh as the master would, with the process
-- environment holding exactly vars.
local function load_with_environment(vars)
  local original_getenv = os.getenv
  local asked = {}
  os.getenv = function(name)
    asked[#asked + 1] = name
    return vars[name]
  end
  package.loaded[ENV_MODULE] = nil
  package.loaded[SOURCE_MODULE] = nil
  local ok, loaded = pcall(require, SOURCE_MODULE)
  os.getenv = original_getenv
  assert(ok, loaded)
  return loaded, require(ENV_MODULE), asked
end


describe("Identity source selection", function()
  setup(function()
    -- A stand-in digest: select_source runs outside nginx here.
    _G.ngx = {
      md5 = function(value)
        local hash = 5381
        for i = 1, #value do
          hash = (hash * 33 + value:byte(i)) % 4294967296
        end
        return string.format("%08x", hash):rep(4)
      end,
    }
  end)

  teardown(function()
    _G.ngx = nil
    package.loaded[ENV_MODULE] = nil
    package.loaded[SOURCE_MODULE] = nil
  end)


  describe("the environment", function()
    it("is read when the module loads", function()
      local _, env = load_with_environment({ AZURE_CLIENT_ID = CLIENT, AZURE_TENANT_ID = TENANT })

      assert.equal(CLIENT, env.environment.AZURE_CLIENT_ID)
      assert.equal(TENANT, env.environment.AZURE_TENANT_ID)
    end)

    it("is not read again after loading", function()
      local _, env = load_with_environment({ AZURE_CLIENT_ID = CLIENT })
      local original_getenv = os.getenv
      os.getenv = function() return "changed" end
      local seen = env.environment.AZURE_CLIENT_ID
      os.getenv = original_getenv

      assert.equal(CLIENT, seen)
    end)

    it("treats an empty variable as unset", function()
      local _, env = load_with_environment({ AZURE_CLIENT_ID = "", AZURE_TENANT_ID = TENANT })

      assert.is_nil(env.environment.AZURE_CLIENT_ID)
      assert.equal(TENANT, env.environment.AZURE_TENANT_ID)
    end)

    it("asks for the variables of every source the project knows", function()
      local _, _, asked = load_with_environment({})
      table.sort(asked)

      assert.same({
        "AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR", "AZURE_AUTHORITY_HOST", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_TENANT_ID", "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
        "MSI_SECRET",
      }, asked)
    end)
  end)


  describe("picks", function()
    for _, case in ipairs({
      {
        what = "a client secret when the config has client id, secret and tenant",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT },
        env = {},
        kind = "client_secret", identity = CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "a client secret from the environment beside the config's client id and tenant",
        auth = { azure_use_managed_identity = true, azure_client_id = CLIENT, azure_tenant_id = TENANT },
        env = { AZURE_CLIENT_SECRET = SECRET },
        kind = "client_secret", identity = CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "a client secret when the environment holds all three",
        auth = {},
        env = { AZURE_CLIENT_ID = CLIENT, AZURE_CLIENT_SECRET = SECRET, AZURE_TENANT_ID = TENANT },
        kind = "client_secret", identity = CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "the client secret before a workload identity",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT },
        env = { AZURE_FEDERATED_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token" },
        kind = "client_secret", identity = CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "the workload identity that AKS sets up in the environment",
        auth = { azure_use_managed_identity = true },
        env = {
          AZURE_CLIENT_ID = CLIENT, AZURE_TENANT_ID = TENANT,
          AZURE_FEDERATED_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token",
          AZURE_AUTHORITY_HOST = "https://login.microsoftonline.com/",
        },
        kind = "workload_identity", identity = CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "a workload identity with the config's client id over the environment's",
        auth = { azure_use_managed_identity = true, azure_client_id = OTHER_CLIENT },
        env = {
          AZURE_CLIENT_ID = CLIENT, AZURE_TENANT_ID = TENANT,
          AZURE_FEDERATED_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token",
        },
        kind = "workload_identity", identity = OTHER_CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "the system-assigned managed identity when nothing else is set",
        auth = { azure_use_managed_identity = true },
        env = {},
        kind = "imds", identity = "system-assigned", host = "169.254.169.254",
      },
      {
        what = "a user-assigned managed identity named by the config",
        auth = { azure_use_managed_identity = true, azure_client_id = CLIENT },
        env = {},
        kind = "imds", identity = CLIENT, host = "169.254.169.254",
      },
      {
        what = "a user-assigned managed identity named by AZURE_CLIENT_ID",
        auth = { azure_use_managed_identity = true },
        env = { AZURE_CLIENT_ID = CLIENT },
        kind = "imds", identity = CLIENT, host = "169.254.169.254",
      },
      {
        what = "a managed identity when a tenant is known but no secret or token file is",
        auth = { azure_use_managed_identity = true, azure_client_id = CLIENT, azure_tenant_id = TENANT },
        env = {},
        kind = "imds", identity = CLIENT, host = "169.254.169.254",
      },
      {
        what = "the environment's value where the config has an empty string",
        auth = { azure_use_managed_identity = true, azure_client_id = "" },
        env = { AZURE_CLIENT_ID = CLIENT },
        kind = "imds", identity = CLIENT, host = "169.254.169.254",
      },
      {
        what = "the pod identity agent in place of IMDS",
        auth = { azure_use_managed_identity = true },
        env = { AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:2579" },
        kind = "imds", identity = "system-assigned", host = "127.0.0.1:2579",
      },
      {
        what = "a sovereign cloud's authority",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT },
        env = { AZURE_AUTHORITY_HOST = "https://login.microsoftonline.us" },
        kind = "client_secret", identity = CLIENT, host = "login.microsoftonline.us",
      },
      {
        what = "the cloud's authority when AZURE_AUTHORITY_HOST is not set",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT },
        env = {},
        options = { authority_host = "https://login.chinacloudapi.cn" },
        kind = "client_secret", identity = CLIENT, host = "login.chinacloudapi.cn",
      },
      {
        what = "AZURE_AUTHORITY_HOST over the cloud's authority",
        auth = { azure_use_managed_identity = true },
        env = merge(WORKLOAD, { AZURE_AUTHORITY_HOST = "https://login.microsoftonline.us" }),
        options = { authority_host = "https://login.chinacloudapi.cn" },
        kind = "workload_identity", identity = CLIENT, host = "login.microsoftonline.us",
      },
      {
        what = "the App Service identity endpoint (also Functions and Container Apps)",
        auth = { azure_use_managed_identity = true },
        env = APP_SERVICE,
        kind = "app_service", identity = "system-assigned", host = "localhost:41000",
      },
      {
        what = "a user-assigned identity on App Service by AZURE_CLIENT_ID",
        auth = { azure_use_managed_identity = true },
        env = merge(APP_SERVICE, { AZURE_CLIENT_ID = CLIENT }),
        kind = "app_service", identity = CLIENT, host = "localhost:41000",
      },
      {
        what = "a user-assigned identity on App Service by object id, over AZURE_CLIENT_ID",
        auth = { azure_use_managed_identity = true, azure_object_id = OBJECT },
        env = merge(APP_SERVICE, { AZURE_CLIENT_ID = CLIENT }),
        kind = "app_service", identity = "object id " .. OBJECT, host = "localhost:41000",
      },
      {
        what = "a user-assigned identity through IMDS by resource id",
        auth = { azure_use_managed_identity = true, azure_resource_id = RESOURCE_ID },
        env = {},
        kind = "imds", identity = "resource id " .. RESOURCE_ID, host = "169.254.169.254",
      },
      {
        what = "a managed identity by object id even beside a workload identity's variables",
        auth = { azure_use_managed_identity = true, azure_object_id = OBJECT },
        env = WORKLOAD,
        kind = "imds", identity = "object id " .. OBJECT, host = "169.254.169.254",
      },
      {
        what = "the workload identity before App Service",
        auth = { azure_use_managed_identity = true },
        env = merge(APP_SERVICE, WORKLOAD),
        kind = "workload_identity", identity = CLIENT, host = "login.microsoftonline.com",
      },
      {
        what = "App Service before Azure Machine Learning",
        auth = { azure_use_managed_identity = true },
        env = merge(ML, APP_SERVICE),
        kind = "app_service", identity = "system-assigned", host = "localhost:41000",
      },
      {
        what = "App Service before Azure Arc (both set IDENTITY_ENDPOINT)",
        auth = { azure_use_managed_identity = true },
        env = merge(ARC, APP_SERVICE),
        kind = "app_service", identity = "system-assigned", host = "localhost:41000",
      },
      {
        what = "Azure Machine Learning with MSI_ENDPOINT and MSI_SECRET",
        auth = { azure_use_managed_identity = true, azure_client_id = CLIENT },
        env = ML,
        kind = "ml", identity = CLIENT, host = "127.0.0.1:46808",
      },
      {
        what = "Azure Machine Learning before Azure Arc",
        auth = { azure_use_managed_identity = true },
        env = merge(ARC, ML),
        kind = "ml", identity = "system-assigned", host = "127.0.0.1:46808",
      },
      {
        what = "Cloud Shell with MSI_ENDPOINT alone",
        auth = { azure_use_managed_identity = true },
        env = CLOUD_SHELL,
        kind = "cloud_shell", identity = "the signed-in user", host = "localhost:50342",
      },
      {
        what = "Cloud Shell before Azure Arc",
        auth = { azure_use_managed_identity = true },
        env = merge(ARC, CLOUD_SHELL),
        kind = "cloud_shell", identity = "the signed-in user", host = "localhost:50342",
      },
      {
        what = "Azure Arc with IDENTITY_ENDPOINT and IMDS_ENDPOINT, at 127.0.0.1 for localhost",
        auth = { azure_use_managed_identity = true },
        env = ARC,
        kind = "arc", identity = "system-assigned", host = "127.0.0.1:40342",
      },
      {
        what = "Azure Arc at its default endpoint when only the agent's executable is found",
        auth = { azure_use_managed_identity = true },
        env = {},
        options = { arc_agent_installed = true },
        kind = "arc", identity = "system-assigned", host = "127.0.0.1:40342",
      },
      {
        what = "IMDS, not Arc, with IDENTITY_ENDPOINT alone",
        auth = { azure_use_managed_identity = true },
        env = { IDENTITY_ENDPOINT = ARC.IDENTITY_ENDPOINT },
        kind = "imds", identity = "system-assigned", host = "169.254.169.254",
      },
      {
        what = "Azure Arc before IMDS's pod identity host",
        auth = { azure_use_managed_identity = true },
        env = merge(ARC, { AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:2579" }),
        kind = "arc", identity = "system-assigned", host = "127.0.0.1:40342",
      },
    }) do
      it(case.what, function()
        local source_module = load_with_environment(case.env)
        local options = merge({ arc_agent_installed = false }, case.options or {})
        local source, err = source_module.select_source(case.auth, RESOURCE, options)

        assert.is_nil(err)
        assert.equal(case.kind, source.kind)
        assert.equal(case.identity, source.identity)
        assert.equal(case.host, source.endpoint_host)
        assert.equal("function", type(source.fetch))
      end)
    end

    it("from the environment given in its options over the one captured at load", function()
      local source_module = load_with_environment({})
      local source = assert(source_module.select_source({ azure_use_managed_identity = true }, RESOURCE, {
        environment = { AZURE_CLIENT_ID = CLIENT },
      }))

      assert.equal(CLIENT, source.identity)
    end)
  end)


  describe("refuses a configuration", function()
    for _, case in ipairs({
      {
        what = "with a secret but no tenant",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET },
        env = {},
        err = "failed to select an Azure identity: a client secret needs a client id and a tenant: "
          .. "set azure_client_id and azure_tenant_id (or AZURE_CLIENT_ID and AZURE_TENANT_ID)",
      },
      {
        what = "with a secret but no client id",
        auth = { azure_use_managed_identity = true, azure_tenant_id = TENANT },
        env = { AZURE_CLIENT_SECRET = SECRET },
        err = "failed to select an Azure identity: a client secret needs a client id and a tenant: "
          .. "set azure_client_id and azure_tenant_id (or AZURE_CLIENT_ID and AZURE_TENANT_ID)",
      },
      {
        what = "that names no identity at all",
        auth = { azure_use_managed_identity = false, azure_client_id = CLIENT, azure_tenant_id = TENANT },
        env = {},
        err = "failed to select an Azure identity: none is configured: set azure_use_managed_identity, "
          .. "or azure_client_id, azure_client_secret and azure_tenant_id",
      },
      {
        what = "with an authority that is not https",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT },
        env = { AZURE_AUTHORITY_HOST = "http://login.microsoftonline.com" },
        err = "failed to select an Azure identity: failed to use AZURE_AUTHORITY_HOST: "
          .. "the authority must be an https URL",
      },
      {
        what = "with an authority that is not a URL",
        auth = { azure_use_managed_identity = true },
        env = {
          AZURE_CLIENT_ID = CLIENT, AZURE_TENANT_ID = TENANT, AZURE_FEDERATED_TOKEN_FILE = "/t",
          AZURE_AUTHORITY_HOST = "login.microsoftonline.com",
        },
        err = "failed to select an Azure identity: failed to use AZURE_AUTHORITY_HOST: "
          .. "failed to parse URL: not absolute",
      },
      {
        what = "with a tenant that could change the token URL's path",
        auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = "../common" },
        env = {},
        err = "failed to select an Azure identity: the tenant (azure_tenant_id or AZURE_TENANT_ID) "
          .. "is not a tenant id or domain name",
      },
      {
        what = "with a pod identity host that is not a URL",
        auth = { azure_use_managed_identity = true },
        env = { AZURE_POD_IDENTITY_AUTHORITY_HOST = "127.0.0.1:2579" },
        err = "failed to select an Azure identity: failed to use AZURE_POD_IDENTITY_AUTHORITY_HOST: "
          .. "failed to parse URL: not absolute",
      },
      {
        what = "on Service Fabric, whose endpoint's certificate cannot be verified",
        auth = { azure_use_managed_identity = true },
        env = merge(APP_SERVICE, { IDENTITY_SERVER_THUMBPRINT = "0123456789ABCDEF" }),
        err = "failed to select an Azure identity: Service Fabric's managed identity (IDENTITY_SERVER_THUMBPRINT "
          .. "is set) is not supported: its endpoint's certificate cannot be verified",
      },
      {
        what = "that names a user-assigned identity in Cloud Shell",
        auth = { azure_use_managed_identity = true },
        env = merge(CLOUD_SHELL, { AZURE_CLIENT_ID = CLIENT }),
        err = "failed to select an Azure identity: Cloud Shell (MSI_ENDPOINT) offers no user-assigned identity, "
          .. "but azure_client_id or AZURE_CLIENT_ID names one: remove it",
      },
      {
        what = "that names a user-assigned identity on Azure Arc",
        auth = { azure_use_managed_identity = true, azure_resource_id = RESOURCE_ID },
        env = ARC,
        err = "failed to select an Azure identity: Azure Arc offers no user-assigned identity, "
          .. "but azure_resource_id names one: remove it",
      },
      {
        what = "that names an identity by object id for Azure Machine Learning",
        auth = { azure_use_managed_identity = true, azure_object_id = OBJECT },
        env = ML,
        err = "failed to select an Azure identity: Azure Machine Learning names a user-assigned identity "
          .. "by client id only, but azure_object_id is set",
      },
      {
        what = "with an App Service endpoint that is not a URL",
        auth = { azure_use_managed_identity = true },
        env = { IDENTITY_ENDPOINT = "localhost:41000/msi/token", IDENTITY_HEADER = "h" },
        err = "failed to select an Azure identity: failed to use IDENTITY_ENDPOINT: failed to parse URL: not absolute",
      },
    }) do
      it(case.what, function()
        local source_module = load_with_environment(case.env)
        local source, err = source_module.select_source(case.auth, RESOURCE, { arc_agent_installed = false })

        assert.is_nil(source)
        assert.equal(case.err, err)
      end)
    end

    it("without a resource", function()
      local source_module = load_with_environment({})
      local source, err = source_module.select_source({ azure_use_managed_identity = true }, "")

      assert.is_nil(source)
      assert.equal("failed to select an Azure identity: no resource (audience) to ask a token for", err)
    end)
  end)


  describe("cache keys", function()
    local function key(auth, env, resource)
      local source_module = load_with_environment(env or {})
      return assert(source_module.select_source(auth, resource or RESOURCE)).cache_key
    end

    local secret_auth = { azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT }

    it("never hold the client secret", function()
      assert.not_matches(SECRET, key(secret_auth), 1, true)
    end)

    it("stay the same for the same identity", function()
      assert.equal(key(secret_auth), key(secret_auth))
    end)

    it("change when the client secret changes", function()
      local rotated = { azure_client_id = CLIENT, azure_client_secret = "an0ther-Secret", azure_tenant_id = TENANT }

      assert.not_equal(key(secret_auth), key(rotated))
    end)

    it("tell apart kinds, tenants, client ids, authorities, endpoints and resources", function()
      local workload_env = { AZURE_TENANT_ID = TENANT, AZURE_FEDERATED_TOKEN_FILE = "/t" }
      local keys = {
        key(secret_auth),
        key({ azure_client_id = CLIENT, azure_client_secret = SECRET, azure_tenant_id = "contoso.onmicrosoft.com" }),
        key({ azure_client_id = OTHER_CLIENT, azure_client_secret = SECRET, azure_tenant_id = TENANT }),
        key(secret_auth, { AZURE_AUTHORITY_HOST = "https://login.microsoftonline.us" }),
        key(secret_auth, {}, "https://cognitiveservices.azure.us"),
        key({ azure_client_id = CLIENT }, workload_env),
        key({ azure_client_id = OTHER_CLIENT }, workload_env),
        key({ azure_use_managed_identity = true }),
        key({ azure_use_managed_identity = true, azure_client_id = CLIENT }),
        key({ azure_use_managed_identity = true }, { AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:2579" }),
        key({ azure_use_managed_identity = true }, {}, "https://cognitiveservices.azure.us"),
        key({ azure_use_managed_identity = true, azure_object_id = OBJECT }),
        key({ azure_use_managed_identity = true, azure_resource_id = RESOURCE_ID }),
        key({ azure_use_managed_identity = true }, APP_SERVICE),
        key({ azure_use_managed_identity = true, azure_client_id = CLIENT }, APP_SERVICE),
        key({ azure_use_managed_identity = true }, ML),
        key({ azure_use_managed_identity = true }, CLOUD_SHELL),
        key({ azure_use_managed_identity = true }, ARC),
      }

      local seen = {}
      for index, cache_key in ipairs(keys) do
        assert.is_nil(seen[cache_key], "key " .. index .. " repeats key " .. tostring(seen[cache_key]))
        seen[cache_key] = index
      end
    end)
  end)
end)
