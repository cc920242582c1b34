-- Client secret and workload identity: the form each sends to Entra ID's
-- token endpoint, how answers and refusals are read, and that no secret or
-- assertion reaches a message or a log detail. The HTTP client is replaced by
-- canned responses (spec/fixtures/identity).

local http = require "kong.plugins.ai-proxy-azure.http"
local entra = require "kong.plugins.ai-proxy-azure.identity.entra"
local client_credentials = require "kong.plugins.ai-proxy-azure.identity.client_credentials"
local workload_identity = require "kong.plugins.ai-proxy-azure.identity.workload_identity"

local RESOURCE = "https://cognitiveservices.azure.com"
local SCOPE = "https://cognitiveservices.azure.com/.default"
local SECRET = "s3cr3t-Value~1"
local ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"
local TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
local CLIENT = "aabdecea-fc38-40ca-9edd-263878b290fe"
local NOW = 1700000000
local TOKEN_URL = "https://login.microsoftonline.com/" .. TENANT .. "/oauth2/v2.0/token"


local function fixture_path(name)
  return "spec/fixtures/identity/" .. name
end


local function fixture(name)
  local file = assert(io.open(fixture_path(name), "rb"))
  local text = file:read("*a")
  file:close()
  return text
end


local function response(status, body, headers)
  return { status = status, body = body or "", headers = headers or {} }
end


local function decode_form(body)
  local fields = {}
  for name, value in body:gmatch("([^&=]+)=([^&]*)") do
    fields[name] = value:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end)
  end
  return fields
end


local function authority(host)
  return assert(entra.parse_authority(host))
end


local function context(source, credential, secrets)
  return {
    source = source,
    credential = credential,
    tenant = TENANT,
    client_id = CLIENT,
    authority_host = "login.microsoftonline.com",
    secrets = secrets,
  }
end

local SECRET_CONTEXT = context("client secret (Entra ID)", "client credentials", { SECRET })


describe("Entra ID token endpoint", function()
  local original_request = http.request
  local sent

  -- Answers every request with the given response and keeps what was sent.
  local function answer_with(status, body, headers)
    http.request = function(request)
      sent[#sent + 1] = request
      return response(status, body, headers)
    end
  end

  before_each(function()
    sent = {}
    _G.ngx = {
      time = function() return NOW end,
      md5 = function() return "0123456789abcdef0123456789abcdef" end,
    }
  end)

  after_each(function()
    http.request = original_request
    _G.ngx = nil
  end)


  describe("authority", function()
    for _, case in ipairs({
      { host = nil, url = TOKEN_URL, endpoint_host = "login.microsoftonline.com" },
      { host = "https://login.microsoftonline.us/", url = "https://login.microsoftonline.us/" .. TENANT
        .. "/oauth2/v2.0/token", endpoint_host = "login.microsoftonline.us" },
      { host = "https://login.chinacloudapi.cn//", url = "https://login.chinacloudapi.cn/" .. TENANT
        .. "/oauth2/v2.0/token", endpoint_host = "login.chinacloudapi.cn" },
      { host = "https://127.0.0.1:8443", url = "https://127.0.0.1:8443/" .. TENANT .. "/oauth2/v2.0/token",
        endpoint_host = "127.0.0.1:8443" },
    }) do
      it("builds the token URL " .. case.url, function()
        local parsed = authority(case.host)

        assert.equal(case.url, entra.token_url(parsed, TENANT))
        assert.equal(case.endpoint_host, parsed.host)
      end)
    end

    it("must be https", function()
      local parsed, err = entra.parse_authority("http://login.microsoftonline.com")

      assert.is_nil(parsed)
      assert.equal("failed to use AZURE_AUTHORITY_HOST: the authority must be an https URL", err)
    end)
  end)


  describe("with a client secret", function()
    local function source()
      return client_credentials.client_secret_source(authority(), TENANT, CLIENT, SECRET, RESOURCE, 4000)
    end

    it("posts client_id, scope, grant_type and client_secret as a form", function()
      answer_with(200, fixture("entra_token.json"))

      assert(source().fetch())

      assert.equal(1, #sent)
      assert.equal("POST", sent[1].method)
      assert.equal(TOKEN_URL, sent[1].url)
      assert.equal("application/x-www-form-urlencoded", sent[1].headers["Content-Type"])
      assert.equal(4000, sent[1].timeout_ms)
      assert.same({
        client_id = CLIENT,
        scope = SCOPE,
        grant_type = "client_credentials",
        client_secret = SECRET,
      }, decode_form(sent[1].body))
    end)

    it("sends the fields in a fixed order", function()
      answer_with(200, fixture("entra_token.json"))

      assert(source().fetch())

      assert.matches("^client_id=[^&]+&scope=[^&]+&grant_type=client_credentials&client_secret=", sent[1].body)
    end)

    it("describes itself without the secret", function()
      local described = source()

      assert.equal("client_secret", described.kind)
      assert.equal("client secret (Entra ID)", described.label)
      assert.equal(CLIENT, described.identity)
      assert.equal("login.microsoftonline.com", described.endpoint_host)
      assert.equal("client_secret|https://login.microsoftonline.com|" .. TENANT .. "|" .. CLIENT .. "|"
        .. RESOURCE .. "|01234567", described.cache_key)
    end)

    it("keeps the secret out of a failed request's detail", function()
      answer_with(401, fixture("entra_echoes_secret.json"))

      local token, err = source().fetch()

      assert.is_nil(token)
      assert.equal("refused", err.kind)
      assert.not_matches(SECRET, err.message, 1, true)
      assert.not_matches(SECRET, err.detail, 1, true)
      assert.matches("[redacted]", err.detail, 1, true)
    end)

    it("keeps even part of the secret out when the description is cut short", function()
      local description = string.rep("x", 195) .. " " .. SECRET
      answer_with(401, '{"error":"invalid_client","error_description":"' .. description .. '"}')

      local _, err = source().fetch()

      assert.not_matches(SECRET:sub(1, 4), err.detail, 1, true)
    end)

    it("reports an unreachable Entra as transient", function()
      http.request = function()
        return nil, "failed to connect to login.microsoftonline.com:443: connection refused"
      end

      local token, err = source().fetch()

      assert.is_nil(token)
      assert.equal("transient", err.kind)
      assert.equal("client secret (Entra ID) is unavailable for now: Entra ID could not be reached", err.message)
      assert.equal("Entra ID at login.microsoftonline.com for client " .. CLIENT .. " in tenant " .. TENANT
        .. ": failed to connect to login.microsoftonline.com:443: connection refused", err.detail)
    end)
  end)


  describe("with a workload identity", function()
    local function source(token_file)
      return workload_identity.workload_identity_source(authority(), TENANT, CLIENT, token_file, RESOURCE, 4000)
    end

    it("posts the token file's content, trimmed, as a jwt-bearer client assertion", function()
      answer_with(200, fixture("entra_token.json"))

      assert(source(fixture_path("federated_token")).fetch())

      assert.equal(TOKEN_URL, sent[1].url)
      assert.same({
        client_id = CLIENT,
        scope = SCOPE,
        grant_type = "client_credentials",
        client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion = ASSERTION,
      }, decode_form(sent[1].body))
    end)

    it("reads the token file again on each fetch, so a rotated token is used", function()
      answer_with(200, fixture("entra_token.json"))
      local path = os.tmpname()
      local described = source(path)

      local file = assert(io.open(path, "wb"))
      file:write("first.assertion.value\n")
      file:close()
      assert(described.fetch())
      file = assert(io.open(path, "wb"))
      file:write("second.assertion.value\n")
      file:close()
      assert(described.fetch())
      os.remove(path)

      assert.equal("first.assertion.value", decode_form(sent[1].body).client_assertion)
      assert.equal("second.assertion.value", decode_form(sent[2].body).client_assertion)
    end)

    for _, case in ipairs({
      { what = "missing", path = fixture_path("no_such_file"), detail = "failed to open the federated token file: " },
      { what = "empty", path = fixture_path("federated_token_empty"),
        detail = "failed to read the federated token file: it is empty" },
    }) do
      it("is unavailable, without asking Entra, when the token file is " .. case.what, function()
        answer_with(200, fixture("entra_token.json"))

        local token, err = source(case.path).fetch()

        assert.is_nil(token)
        assert.equal(0, #sent)
        assert.equal("unavailable", err.kind)
        assert.equal("workload identity (Entra ID)", err.source)
        assert.equal("workload identity (Entra ID) is unavailable: the file named by AZURE_FEDERATED_TOKEN_FILE "
          .. "is missing, unreadable or empty", err.message)
        assert.matches(case.detail, err.detail, 1, true)
      end)
    end

    it("keeps the assertion out of a refusal's message and detail", function()
      answer_with(400, fixture("entra_echoes_assertion.json"))

      local token, err = source(fixture_path("federated_token")).fetch()

      assert.is_nil(token)
      assert.equal("refused", err.kind)
      assert.equal("Entra ID refused the federated token of the workload identity (invalid_client)", err.message)
      assert.not_matches(ASSERTION, err.detail, 1, true)
      assert.matches("AADSTS700024", err.detail, 1, true)
    end)

    it("describes itself", function()
      local described = source("/var/run/secrets/azure/tokens/azure-identity-token")

      assert.equal("workload_identity", described.kind)
      assert.equal(CLIENT, described.identity)
      assert.equal("workload_identity|https://login.microsoftonline.com|" .. TENANT .. "|" .. CLIENT .. "|"
        .. RESOURCE, described.cache_key)
    end)
  end)


  describe("reading a token", function()
    for _, case in ipairs({
      { what = "with expires_in and refresh_in as numbers", fixture = "entra_token.json", refresh_at = NOW + 1800 },
      { what = "without refresh_in", fixture = "entra_token_without_refresh_in.json", refresh_at = nil },
      { what = "with expires_in sent as a string", fixture = "entra_token_string_expiry.json", refresh_at = nil },
    }) do
      it(case.what, function()
        local token, err = entra.read_token_response(response(200, fixture(case.fixture)), NOW, SECRET_CONTEXT)

        assert.is_nil(err)
        assert.equal("eyJ0eXAi.eyJhdWQi.c2ln", token.access_token)
        assert.equal(NOW + 3599, token.expires_at)
        assert.equal(case.refresh_at, token.refresh_at)
      end)
    end
  end)


  describe("classifying failures", function()
    for _, case in ipairs({
      {
        what = "a wrong secret as refused",
        status = 401, fixture = "entra_invalid_client.json", kind = "refused", code = "invalid_client",
        message = "Entra ID refused the client credentials (invalid_client)",
        detail = "Entra ID at login.microsoftonline.com answered 401 for client " .. CLIENT .. " in tenant " .. TENANT
          .. ": invalid_client AADSTS7000215 (AADSTS7000215: Invalid client secret provided. Ensure the secret being "
          .. "sent in the request is the client secret value, not the client secret ID.)",
      },
      {
        what = "an unknown application as refused",
        status = 400, fixture = "entra_unauthorized_client.json", kind = "refused", code = "unauthorized_client",
        message = "Entra ID refused the client credentials (unauthorized_client)",
      },
      {
        what = "an unknown tenant as refused",
        status = 400, fixture = "entra_unknown_tenant.json", kind = "refused", code = "invalid_request",
        message = "Entra ID refused the client credentials (invalid_request)",
      },
      {
        what = "a refusal without a readable body as refused, by status",
        status = 403, body = "", kind = "refused",
        message = "Entra ID refused the client credentials (HTTP 403)",
      },
      {
        what = "throttling as transient, with Retry-After",
        status = 429, fixture = "entra_throttled.json", headers = { ["retry-after"] = "12" }, retry_after = 12,
        kind = "transient", code = "temporarily_unavailable",
        message = "client secret (Entra ID): Entra ID cannot issue a token right now (HTTP 429)",
      },
      {
        what = "temporarily_unavailable as transient whatever the status",
        status = 400, fixture = "entra_throttled.json",
        kind = "transient", code = "temporarily_unavailable",
        message = "client secret (Entra ID): Entra ID cannot issue a token right now (HTTP 400)",
      },
      {
        what = "a gateway error page as transient",
        status = 502, fixture = "gateway_error.html", kind = "transient",
        message = "client secret (Entra ID): Entra ID cannot issue a token right now (HTTP 502)",
      },
      {
        what = "a token response cut short as transient",
        status = 200, fixture = "truncated.json", kind = "transient",
        message = "client secret (Entra ID): Entra ID sent a token response that could not be read",
      },
      {
        what = "a token response without expires_in as transient",
        status = 200, body = '{"access_token":"abc","token_type":"Bearer"}', kind = "transient",
        message = "client secret (Entra ID): Entra ID sent a token response that could not be read",
      },
    }) do
      it(case.what, function()
        local body = case.fixture and fixture(case.fixture) or case.body
        local token, err = entra.read_token_response(response(case.status, body, case.headers), NOW, SECRET_CONTEXT)

        assert.is_nil(token)
        assert.equal(case.kind, err.kind)
        assert.equal(case.message, err.message)
        assert.equal(case.code, err.code)
        assert.equal(case.status, err.status)
        assert.equal(case.retry_after, err.retry_after)
        assert.equal("client secret (Entra ID)", err.source)
        if case.detail then
          assert.equal(case.detail, err.detail)
        end
      end)
    end

    it("logs only the first line of Entra's description", function()
      local _, err = entra.read_token_response(response(401, fixture("entra_invalid_client.json")), NOW, SECRET_CONTEXT)

      assert.not_matches("Trace ID", err.detail, 1, true)
    end)

    it("repeats to the client only an error code that is a plain word", function()
      local body = '{"error":"<script>alert(1)</script>","error_description":"x"}'
      local _, err = entra.read_token_response(response(400, body), NOW, SECRET_CONTEXT)

      assert.equal("Entra ID refused the client credentials (HTTP 400)", err.message)
      assert.is_nil(err.code)
    end)
  end)
end)
