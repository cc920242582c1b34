-- The managed identity endpoints of Azure's hosting services other than VMs:
-- App Service / Functions / Container Apps, Azure Arc, Azure Machine Learning
-- and Cloud Shell. The requests they send, and how they read answers. The
-- HTTP client is replaced by canned responses (spec/fixtures/identity).

local http = require "kong.plugins.ai-proxy-azure.http"
local app_service = require "kong.plugins.ai-proxy-azure.identity.app_service"
local arc = require "kong.plugins.ai-proxy-azure.identity.arc"
local legacy = require "kong.plugins.ai-proxy-azure.identity.legacy_msi"

local RESOURCE = "https://cognitiveservices.azure.com"
local ENCODED_RESOURCE = "https%3A%2F%2Fcognitiveservices.azure.com"
local CLIENT = "aabdecea-fc38-40ca-9edd-263878b290fe"
local OBJECT = "0b1d7e3c-6a42-4f1e-9d59-3c2f1a7b8e90"
local RESOURCE_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kong"
local ENCODED_RESOURCE_ID =
  "%2Fsubscriptions%2Fs1%2FresourceGroups%2Frg%2Fproviders%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Fkong"
local IDENTITY_HEADER = "h34d3r-S3cret"
local ML_SECRET = "ml-S3cret"
local NOW = 1700000000
local APP_SERVICE_ENDPOINT = "http://localhost:41000/msi/token"
local ARC_ENDPOINT = "http://localhost:40342/metadata/identity/oauth2/token"
local KEY_DIRECTORY = "spec/fixtures/identity/arc_tokens/"
local KEY_NAME = "3f2a9c1e-7d4b-4e8a-9f0c-1b2d3e4f5a6b.key"
local KEY_CONTENT = "b5f1c0ffee5ecret"


local function fixture(name)
  local file = assert(io.open("spec/fixtures/identity/" .. name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end


local function response(status, body, headers)
  return { status = status, body = body or "", headers = headers or {} }
end


-- Replaces the HTTP client with answers given in order; returns the requests sent.
local function answer_with(...)
  local answers = { ... }
  local sent = {}
  http.request = function(request)
    sent[#sent + 1] = request
    local next_answer = table.remove(answers, 1)
    if type(next_answer) == "string" then
      return nil, next_answer
    end
    return next_answer
  end
  return sent
end


describe("Hosting identity sources", function()
  local original_request = http.request

  before_each(function()
    _G.ngx = { time = function() return NOW end }
  end)

  after_each(function()
    http.request = original_request
    _G.ngx = nil
  end)


  describe("App Service, Functions and Container Apps", function()
    it("asks with api-version 2019-08-01 and the identity header, without Metadata", function()
      local request = app_service.build_app_service_request(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, nil, 5000)

      assert.equal("GET", request.method)
      assert.equal(APP_SERVICE_ENDPOINT .. "?api-version=2019-08-01&resource=" .. ENCODED_RESOURCE, request.url)
      assert.same({ ["X-IDENTITY-HEADER"] = IDENTITY_HEADER }, request.headers)
      assert.is_nil(request.body)
    end)

    for _, case in ipairs({
      { kind = "client_id", value = CLIENT, query = "client_id=" .. CLIENT },
      { kind = "object_id", value = OBJECT, query = "object_id=" .. OBJECT },
      { kind = "resource_id", value = RESOURCE_ID, query = "mi_res_id=" .. ENCODED_RESOURCE_ID },
    }) do
      it("names a user-assigned identity by " .. case.kind .. " as " .. case.query:match("^[^=]+"), function()
        local identity = { kind = case.kind, value = case.value }
        local request = app_service.build_app_service_request(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, identity, 5000)

        assert.equal(APP_SERVICE_ENDPOINT .. "?api-version=2019-08-01&resource=" .. ENCODED_RESOURCE .. "&" .. case.query,
          request.url)
      end)
    end

    it("keeps a query the endpoint already has", function()
      local endpoint = APP_SERVICE_ENDPOINT .. "?site=a"
      local request = app_service.build_app_service_request(endpoint, IDENTITY_HEADER, RESOURCE, nil, 5000)

      assert.equal(APP_SERVICE_ENDPOINT .. "?site=a&api-version=2019-08-01&resource=" .. ENCODED_RESOURCE, request.url)
    end)

    it("returns the token of an answer with expires_on in epoch seconds", function()
      local sent = answer_with(response(200, fixture("appservice_token.json")))
      local source = assert(app_service.app_service_source(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, nil, 3000))

      local token, err = source.fetch()

      assert.is_nil(err)
      assert.equal("eyJ0eXAi.eyJhdWQi.c2ln", token.access_token)
      assert.equal(1700086399, token.expires_at)
      assert.equal(1, #sent)
      assert.equal(3000, sent[1].timeout_ms)
    end)

    it("says an identity the site lacks is unavailable, naming it", function()
      answer_with(response(404, fixture("appservice_identity_not_found.json")))
      local identity = { kind = "object_id", value = OBJECT }
      local source = assert(app_service.app_service_source(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, identity, 3000))

      local token, err = source.fetch()

      assert.is_nil(token)
      assert.equal("unavailable", err.kind)
      assert.equal("managed identity (App Service) is unavailable: the user-assigned identity object id " .. OBJECT
        .. " is not assigned to this host", err.message)
    end)

    it("calls a wrong identity header a refusal and keeps the header's value out of the log detail", function()
      answer_with(response(401, fixture("appservice_wrong_header.json")))
      local source = assert(app_service.app_service_source(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, nil, 3000))

      local _, err = source.fetch()

      assert.equal("refused", err.kind)
      assert.equal("managed identity (App Service) refused the token request (HTTP 401)", err.message)
      assert.matches("does not match the secret [redacted]", err.detail, 1, true)
      assert.not_matches(IDENTITY_HEADER, err.detail, 1, true)
    end)

    for _, case in ipairs({
      { status = 429, kind = "transient" },
      { status = 500, kind = "transient" },
      { status = 503, kind = "transient" },
      { status = 403, kind = "refused" },
    }) do
      it("reads HTTP " .. case.status .. " as " .. case.kind, function()
        answer_with(response(case.status, '{"statusCode":' .. case.status .. ',"message":"no"}'))
        local source = assert(app_service.app_service_source(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, nil, 3000))

        local _, err = source.fetch()

        assert.equal(case.kind, err.kind)
        assert.equal(case.status, err.status)
      end)
    end

    it("calls a refused connection transient: the environment says the endpoint is there", function()
      answer_with("failed to connect to localhost:41000: connection refused")
      local source = assert(app_service.app_service_source(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE, nil, 3000))

      local _, err = source.fetch()

      assert.equal("transient", err.kind)
      assert.equal("managed identity (App Service) could not be reached", err.message)
    end)

    it("describes itself without the identity header", function()
      local source = assert(app_service.app_service_source(APP_SERVICE_ENDPOINT, IDENTITY_HEADER, RESOURCE,
        { kind = "resource_id", value = RESOURCE_ID }, 3000))

      assert.equal("app_service", source.kind)
      assert.equal("managed identity (App Service)", source.label)
      assert.equal("resource id " .. RESOURCE_ID, source.identity)
      assert.equal("localhost:41000", source.endpoint_host)
      assert.not_matches(IDENTITY_HEADER, source.cache_key, 1, true)
    end)

    it("refuses an endpoint that is not a URL", function()
      local source, err = app_service.app_service_source("localhost:41000/msi/token", IDENTITY_HEADER, RESOURCE, nil, 3000)

      assert.is_nil(source)
      assert.equal("failed to use IDENTITY_ENDPOINT: failed to parse URL: not absolute", err)
    end)
  end)


  describe("Azure Machine Learning", function()
    it("asks with api-version 2017-09-01, the secret header and clientid", function()
      local request = legacy.build_ml_request("http://127.0.0.1:46808/msi/token", ML_SECRET, RESOURCE, CLIENT, 5000)

      assert.equal("GET", request.method)
      assert.equal("http://127.0.0.1:46808/msi/token?api-version=2017-09-01&resource=" .. ENCODED_RESOURCE
        .. "&clientid=" .. CLIENT, request.url)
      assert.same({ secret = ML_SECRET }, request.headers)
    end)

    it("reads the legacy date string as the expiry", function()
      answer_with(response(200, fixture("ml_token.json")))
      local source = assert(legacy.ml_source("http://127.0.0.1:46808/msi/token", ML_SECRET, RESOURCE, nil, 3000))

      local token = assert(source.fetch())

      assert.equal(1700086399, token.expires_at)
      assert.equal("ml", source.kind)
      assert.equal("system-assigned", source.identity)
    end)
  end)


  describe("Cloud Shell", function()
    it("posts the resource as a form with Metadata: true", function()
      local request = legacy.build_cloud_shell_request("http://localhost:50342/oauth2/token", RESOURCE, 5000)

      assert.equal("POST", request.method)
      assert.equal("http://localhost:50342/oauth2/token", request.url)
      assert.equal("true", request.headers.Metadata)
      assert.equal("application/x-www-form-urlencoded", request.headers["Content-Type"])
      assert.equal("resource=" .. ENCODED_RESOURCE, request.body)
    end)

    it("names the signed-in user as its identity", function()
      local source = assert(legacy.cloud_shell_source("http://localhost:50342/oauth2/token", RESOURCE, 3000))

      assert.equal("cloud_shell", source.kind)
      assert.equal("the signed-in user", source.identity)
    end)
  end)


  describe("Azure Arc", function()
    describe("accepts a challenge", function()
      for _, case in ipairs({
        { what = "as the agent writes it", header = "Basic realm=" .. KEY_DIRECTORY .. KEY_NAME },
        { what = "with the realm quoted", header = 'Basic realm="' .. KEY_DIRECTORY .. KEY_NAME .. '"' },
      }) do
        it(case.what, function()
          assert.equal(KEY_DIRECTORY .. KEY_NAME, arc.challenge_key_path(case.header, KEY_DIRECTORY))
        end)
      end

      it("for the agent's Linux directory by default", function()
        assert.equal("/var/opt/azcmagent/tokens/", arc.ARC_TOKENS_DIRECTORY)
        local path = arc.challenge_key_path("Basic realm=/var/opt/azcmagent/tokens/" .. KEY_NAME, arc.ARC_TOKENS_DIRECTORY)
        assert.equal("/var/opt/azcmagent/tokens/" .. KEY_NAME, path)
      end)
    end)

    describe("refuses a challenge", function()
      for _, case in ipairs({
        { what = "that is missing", header = nil, err = "no WWW-Authenticate header" },
        { what = "that is not Basic", header = "Bearer realm=x", err = "it is not 'Basic realm=<key file>'" },
        { what = "naming a file that is not a .key file", header = "Basic realm=" .. KEY_DIRECTORY .. "secret.txt",
          err = "the file it names is not a .key file" },
        { what = "naming a file outside the key directory", header = "Basic realm=/etc/ssh/host.key",
          err = "the key file is not in " .. KEY_DIRECTORY },
        { what = "that climbs out of the key directory", header = "Basic realm=" .. KEY_DIRECTORY .. "../x.key",
          err = "the key file is not in " .. KEY_DIRECTORY },
        { what = "in a directory below the key directory", header = "Basic realm=" .. KEY_DIRECTORY .. "sub/x.key",
          err = "the key file is not in " .. KEY_DIRECTORY },
        { what = "naming a relative path", header = "Basic realm=" .. KEY_NAME,
          err = "the file it names is not a .key file" },
        { what = "naming a hidden .key file", header = "Basic realm=" .. KEY_DIRECTORY .. ".key",
          err = "the file it names is not a .key file" },
      }) do
        it(case.what, function()
          local path, err = arc.challenge_key_path(case.header, KEY_DIRECTORY)

          assert.is_nil(path)
          assert.matches(case.err, err, 1, true)
        end)
      end
    end)

    describe("reads the key file", function()
      it("of at most 4096 bytes", function()
        assert.equal(4096, #assert(arc.read_key_file(KEY_DIRECTORY .. "max-size.key")))
      end)

      for _, case in ipairs({
        { file = "oversized.key", err = "failed to read the key file: larger than 4096 bytes" },
        { file = "empty.key", err = "failed to read the key file: it is empty" },
        { file = "with-newline.key", err = "failed to read the key file: it holds a line break" },
      }) do
        it("but refuses " .. case.file, function()
          local key, err = arc.read_key_file(KEY_DIRECTORY .. case.file)

          assert.is_nil(key)
          assert.equal(case.err, err)
        end)
      end
    end)

    it("answers the challenge with the key file's contents as Basic credentials", function()
      local sent = answer_with(
        response(401, '{"error":"unauthorized"}', { ["www-authenticate"] = "Basic realm=" .. KEY_DIRECTORY .. KEY_NAME }),
        response(200, fixture("imds_token.json"))
      )
      local source = assert(arc.arc_source(ARC_ENDPOINT, KEY_DIRECTORY, RESOURCE, 3000))

      local token, err = source.fetch()

      assert.is_nil(err)
      assert.equal(1700003599, token.expires_at)
      assert.equal(2, #sent)
      local url = "http://127.0.0.1:40342/metadata/identity/oauth2/token?api-version=2020-06-01&resource=" .. ENCODED_RESOURCE
      assert.equal(url, sent[1].url)
      assert.same({ Metadata = "true" }, sent[1].headers)
      assert.equal(url, sent[2].url)
      assert.same({ Metadata = "true", Authorization = "Basic " .. KEY_CONTENT }, sent[2].headers)
    end)

    it("sends no second request when the challenge fails the checks", function()
      local sent = answer_with(response(401, "{}", { ["www-authenticate"] = "Basic realm=/etc/passwd.key" }))
      local source = assert(arc.arc_source(ARC_ENDPOINT, KEY_DIRECTORY, RESOURCE, 3000))

      local token, err = source.fetch()

      assert.is_nil(token)
      assert.equal(1, #sent)
      assert.equal("refused", err.kind)
      assert.equal("managed identity (Azure Arc) refused: its key file challenge failed the checks", err.message)
    end)

    it("says an unreadable key file makes Arc unavailable", function()
      local sent = answer_with(response(401, "{}", { ["www-authenticate"] = "Basic realm=" .. KEY_DIRECTORY .. "absent.key" }))
      local source = assert(arc.arc_source(ARC_ENDPOINT, KEY_DIRECTORY, RESOURCE, 3000))

      local _, err = source.fetch()

      assert.equal(1, #sent)
      assert.equal("unavailable", err.kind)
      assert.matches("key file cannot be read", err.message, 1, true)
    end)

    it("keeps the key out of the log detail when the agent echoes it", function()
      answer_with(
        response(401, "{}", { ["www-authenticate"] = "Basic realm=" .. KEY_DIRECTORY .. KEY_NAME }),
        response(401, '{"error":"unauthorized","error_description":"bad key ' .. KEY_CONTENT .. '"}')
      )
      local source = assert(arc.arc_source(ARC_ENDPOINT, KEY_DIRECTORY, RESOURCE, 3000))

      local _, err = source.fetch()

      assert.equal("refused", err.kind)
      assert.not_matches(KEY_CONTENT, err.detail, 1, true)
      assert.not_matches(KEY_CONTENT, err.message, 1, true)
    end)

    it("reads a first answer that is not a challenge like any other", function()
      local sent = answer_with(response(503, '{"error":"busy"}'))
      local source = assert(arc.arc_source(ARC_ENDPOINT, KEY_DIRECTORY, RESOURCE, 3000))

      local _, err = source.fetch()

      assert.equal(1, #sent)
      assert.equal("transient", err.kind)
    end)

    it("describes itself with 127.0.0.1 for localhost", function()
      local source = assert(arc.arc_source(ARC_ENDPOINT, KEY_DIRECTORY, RESOURCE, 3000))

      assert.equal("arc", source.kind)
      assert.equal("system-assigned", source.identity)
      assert.equal("127.0.0.1:40342", source.endpoint_host)
    end)
  end)
end)
