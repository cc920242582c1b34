-- Managed identity through IMDS: the request it sends, and how it reads
-- answers and failures. The HTTP client is replaced by canned responses
-- (spec/fixtures/identity).

local http = require "kong.plugins.ai-proxy-azure.http"
local imds = require "kong.plugins.ai-proxy-azure.identity.imds"

local RESOURCE = "https://cognitiveservices.azure.com"
local CLIENT = "aabdecea-fc38-40ca-9edd-263878b290fe"
local NOW = 1700000000
local DEFAULT_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token"
local QUERY = "api-version=2018-02-01&resource=https%3A%2F%2Fcognitiveservices.azure.com"
local RESOURCE_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kong"


local function fixture(name)
  local file = assert(io.open("spec/fixtures/identity/" .. name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end


local function response(status, body, headers)
  return { status = status, body = body or "", headers = headers or {} }
end


local function read(status, body, client_id, headers)
  return imds.read_imds_response(response(status, body, headers), NOW, client_id, "169.254.169.254")
end


describe("Managed identity (IMDS)", function()
  describe("its endpoint", function()
    for _, case in ipairs({
      { what = "is the link-local address by default", host = nil, endpoint = DEFAULT_ENDPOINT },
      {
        what = "follows AZURE_POD_IDENTITY_AUTHORITY_HOST with the SDK's trailing slash",
        host = "http://127.0.0.1:2579",
        endpoint = "http://127.0.0.1:2579/metadata/identity/oauth2/token/",
      },
      {
        what = "drops a trailing slash of AZURE_POD_IDENTITY_AUTHORITY_HOST",
        host = "http://127.0.0.1:2579/",
        endpoint = "http://127.0.0.1:2579/metadata/identity/oauth2/token/",
      },
      {
        what = "is lower-cased as the SDK does",
        host = "http://NMI.Kube-System:2579",
        endpoint = "http://nmi.kube-system:2579/metadata/identity/oauth2/token/",
      },
    }) do
      it(case.what, function()
        assert.equal(case.endpoint, imds.imds_endpoint(case.host))
      end)
    end
  end)


  describe("its request", function()
    it("asks for the system-assigned identity's token with the Metadata header", function()
      local request = imds.build_imds_request(DEFAULT_ENDPOINT, RESOURCE, nil, 5000)

      assert.equal("GET", request.method)
      assert.equal(DEFAULT_ENDPOINT .. "?" .. QUERY, request.url)
      assert.same({ Metadata = "true" }, request.headers)
      assert.is_nil(request.body)
      assert.equal(5000, request.timeout_ms)
    end)

    for _, case in ipairs({
      { what = "names a user-assigned identity by client id with client_id", kind = "client_id", param = "client_id" },
      { what = "names a user-assigned identity by object id with object_id", kind = "object_id", param = "object_id" },
      {
        what = "names a user-assigned identity by resource id with msi_res_id",
        kind = "resource_id", param = "msi_res_id", value = RESOURCE_ID,
        encoded = "%2Fsubscriptions%2Fs1%2FresourceGroups%2Frg%2Fproviders%2F"
          .. "Microsoft.ManagedIdentity%2FuserAssignedIdentities%2Fkong",
      },
    }) do
      it(case.what, function()
        local value = case.value or CLIENT
        local request = imds.build_imds_request(DEFAULT_ENDPOINT, RESOURCE, { kind = case.kind, value = value }, 5000)

        assert.equal(DEFAULT_ENDPOINT .. "?" .. QUERY .. "&" .. case.param .. "=" .. (case.encoded or value), request.url)
      end)
    end

    it("gives up connecting sooner than it gives up reading", function()
      local request = imds.build_imds_request(DEFAULT_ENDPOINT, RESOURCE, nil, 5000)

      assert.equal(2000, request.connect_timeout_ms)
    end)
  end)


  describe("reading a token", function()
    for _, case in ipairs({
      { what = "with expires_on as a string, as IMDS sends it", fixture = "imds_token.json", expires_at = 1700003599 },
      { what = "with expires_on as a number", fixture = "imds_token_numbers.json", expires_at = 1700003599 },
      { what = "with only expires_in", fixture = "imds_token_expires_in_only.json", expires_at = NOW + 3599 },
    }) do
      it(case.what, function()
        local token, err = read(200, fixture(case.fixture))

        assert.is_nil(err)
        assert.equal("eyJ0eXAi.eyJhdWQi.c2ln", token.access_token)
        assert.equal(case.expires_at, token.expires_at)
        assert.is_nil(token.refresh_at)
      end)
    end

    it("falls back to expires_in when expires_on has already passed", function()
      local token = imds.read_imds_response(response(200, fixture("imds_token.json")), 1700005000, nil, "h")

      assert.equal(1700005000 + 3599, token.expires_at)
    end)
  end)


  describe("classifying failures", function()
    for _, case in ipairs({
      {
        what = "no identity on the host as unavailable",
        status = 400, fixture = "imds_identity_not_found.json",
        kind = "unavailable", code = "invalid_request",
        message = "managed identity (IMDS) is unavailable: no managed identity is assigned to this host",
      },
      {
        what = "a user-assigned identity missing from the host as unavailable, naming it",
        status = 400, fixture = "imds_identity_not_found.json", client_id = CLIENT,
        kind = "unavailable", code = "invalid_request",
        message = "managed identity (IMDS) is unavailable: the user-assigned identity " .. CLIENT
          .. " is not assigned to this host",
      },
      {
        what = "any other bad request as refused",
        status = 400, fixture = "imds_missing_metadata.json",
        kind = "refused", code = "bad_request_102",
        message = "managed identity (IMDS) refused the token request (bad_request_102)",
      },
      {
        what = "a 403 without a body as refused",
        status = 403, body = "",
        kind = "refused",
        message = "managed identity (IMDS) refused the token request (HTTP 403)",
      },
      {
        what = "404 while IMDS updates as transient",
        status = 404, body = "",
        kind = "transient",
        message = "managed identity (IMDS) cannot issue a token right now (HTTP 404)",
      },
      {
        what = "410 while IMDS updates as transient, with Retry-After",
        status = 410, body = "", headers = { ["retry-after"] = "70" }, retry_after = 70,
        kind = "transient",
        message = "managed identity (IMDS) cannot issue a token right now (HTTP 410)",
      },
      {
        what = "throttling as transient, with Retry-After",
        status = 429, body = "", headers = { ["retry-after"] = "5" }, retry_after = 5,
        kind = "transient",
        message = "managed identity (IMDS) cannot issue a token right now (HTTP 429)",
      },
      {
        what = "throttling with x-ms-retry-after-ms as transient, rounding up to seconds",
        status = 429, body = "", headers = { ["x-ms-retry-after-ms"] = "1500" }, retry_after = 2,
        kind = "transient",
        message = "managed identity (IMDS) cannot issue a token right now (HTTP 429)",
      },
      {
        what = "a server error page as transient",
        status = 502, fixture = "gateway_error.html",
        kind = "transient",
        message = "managed identity (IMDS) cannot issue a token right now (HTTP 502)",
      },
      {
        what = "a token response cut short as transient",
        status = 200, fixture = "truncated.json",
        kind = "transient",
        message = "managed identity (IMDS) sent a token response that could not be read",
      },
      {
        what = "a token with characters a header cannot carry as transient",
        status = 200, fixture = "imds_token_bad_characters.json",
        kind = "transient",
        message = "managed identity (IMDS) sent a token response that could not be read",
      },
      {
        what = "a token without any expiry as transient",
        status = 200, body = '{"access_token":"abc"}',
        kind = "transient",
        message = "managed identity (IMDS) sent a token response that could not be read",
      },
    }) do
      it(case.what, function()
        local body = case.fixture and fixture(case.fixture) or case.body
        local token, err = read(case.status, body, case.client_id, case.headers)

        assert.is_nil(token)
        assert.equal(case.kind, err.kind)
        assert.equal(case.message, err.message)
        assert.equal(case.code, err.code)
        assert.equal(case.status, err.status)
        assert.equal(case.retry_after, err.retry_after)
        assert.equal("managed identity (IMDS)", err.source)
        assert.matches("IMDS at 169.254.169.254 answered " .. case.status, err.detail, 1, true)
      end)
    end

    it("puts IMDS's own description in the log detail, not in the message", function()
      local _, err = read(400, fixture("imds_missing_metadata.json"))

      assert.matches("Required metadata header not specified", err.detail, 1, true)
      assert.not_matches("metadata header", err.message, 1, true)
    end)


    for _, case in ipairs({
      {
        what = "a refused connection as unavailable",
        reason = "failed to connect to 169.254.169.254:80: connection refused",
        kind = "unavailable",
        message = "managed identity (IMDS) is unavailable: its endpoint cannot be reached from this host",
      },
      {
        what = "a connection that times out as unavailable",
        reason = "failed to connect to 169.254.169.254:80: timeout",
        kind = "unavailable",
        message = "managed identity (IMDS) is unavailable: its endpoint cannot be reached from this host",
      },
      {
        what = "an answer that times out as transient",
        reason = "failed to read the status line: timeout",
        kind = "transient",
        message = "managed identity (IMDS) did not answer in time",
      },
      {
        what = "an oversized answer as transient",
        reason = "failed to read the response body: response larger than 65536 bytes",
        kind = "transient",
        message = "managed identity (IMDS) gave no usable answer",
      },
    }) do
      it(case.what, function()
        local err = imds.imds_transport_error(case.reason, "169.254.169.254")

        assert.equal(case.kind, err.kind)
        assert.equal(case.message, err.message)
        assert.equal("IMDS at 169.254.169.254: " .. case.reason, err.detail)
        assert.is_nil(err.status)
      end)
    end
  end)


  describe("as a token source", function()
    local original_request = http.request
    local sent

    before_each(function()
      sent = {}
      _G.ngx = { time = function() return NOW end }
    end)

    after_each(function()
      http.request = original_request
      _G.ngx = nil
    end)

    it("sends its request through the HTTP client and returns the token", function()
      http.request = function(request)
        sent[#sent + 1] = request
        return response(200, fixture("imds_token.json"))
      end
      local source = assert(imds.imds_source(DEFAULT_ENDPOINT, RESOURCE, { kind = "client_id", value = CLIENT }, 3000))

      local token, err = source.fetch()

      assert.is_nil(err)
      assert.equal(1700003599, token.expires_at)
      assert.equal(1, #sent)
      assert.equal(DEFAULT_ENDPOINT .. "?" .. QUERY .. "&client_id=" .. CLIENT, sent[1].url)
      assert.equal(3000, sent[1].timeout_ms)
    end)

    it("turns a failure of the HTTP client into a token error", function()
      http.request = function()
        return nil, "failed to connect to 169.254.169.254:80: connection refused"
      end
      local source = assert(imds.imds_source(DEFAULT_ENDPOINT, RESOURCE, nil, 3000))

      local token, err = source.fetch()

      assert.is_nil(token)
      assert.equal("unavailable", err.kind)
    end)

    it("describes itself for the handler's cache and logs", function()
      local source = assert(imds.imds_source("http://127.0.0.1:2579/metadata/identity/oauth2/token/", RESOURCE, nil, 3000))

      assert.equal("imds", source.kind)
      assert.equal("managed identity (IMDS)", source.label)
      assert.equal("system-assigned", source.identity)
      assert.equal("127.0.0.1:2579", source.endpoint_host)
      assert.equal("imds|127.0.0.1:2579/metadata/identity/oauth2/token/|system-assigned|" .. RESOURCE, source.cache_key)
    end)
  end)
end)
