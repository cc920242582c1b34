-- The cache's timing rules, on the built Lua: when to renew, how long to wait
-- between background retries, how long to fail fast after failures.

local token_cache = require "kong.plugins.ai-proxy-azure.token_cache"


local NOW = 1700000000


describe("token_cache.refresh_point", function()
  local cases = {
    { name = "renews an hour-long Entra token 300 s before it expires",
      token = { expires_at = NOW + 3600 }, expected = NOW + 3300 },
    { name = "renews a 24 h managed identity token at half its life",
      token = { expires_at = NOW + 86400 }, expected = NOW + 43200 },
    { name = "renews a short test token at half its life, not before it was issued",
      token = { expires_at = NOW + 20 }, expected = NOW + 10 },
    { name = "follows Entra's refresh_in when it is sent",
      token = { expires_at = NOW + 3600, refresh_at = NOW + 1800 }, expected = NOW + 1800 },
    { name = "never renews later than the token stays usable, whatever refresh_in says",
      token = { expires_at = NOW + 60, refresh_at = NOW + 59 }, expected = NOW + 55 },
  }
  for _, case in ipairs(cases) do
    it(case.name, function()
      assert.equal(case.expected, token_cache.refresh_point(case.token, NOW))
    end)
  end
end)


describe("token_cache.retry_delay", function()
  it("grows exponentially from 1 s with 50 to 100 % jitter", function()
    for attempt, base in ipairs({ 1, 2, 4, 8, 16 }) do
      for _ = 1, 50 do
        local delay = token_cache.retry_delay(attempt - 1, nil)
        assert.is_true(delay >= base * 0.5 and delay <= base, attempt .. ": " .. delay)
      end
    end
  end)

  it("stops growing at 30 s", function()
    for _ = 1, 50 do
      assert.is_true(token_cache.retry_delay(20, nil) <= 30)
    end
  end)

  it("waits at least as long as Retry-After asks", function()
    for _ = 1, 50 do
      assert.is_true(token_cache.retry_delay(0, 12) >= 12)
    end
  end)
end)


describe("token_cache.failure_window", function()
  local cases = {
    { failures = 1, expected = 1 },
    { failures = 2, expected = 2 },
    { failures = 3, expected = 4 },
    { failures = 6, expected = 30 },
    { failures = 40, expected = 30 },
  }
  for _, case in ipairs(cases) do
    it("fails fast for " .. case.expected .. " s after " .. case.failures .. " failure(s) in a row", function()
      assert.equal(case.expected, token_cache.failure_window(case.failures, nil))
    end)
  end

  it("honours a longer Retry-After, up to 60 s", function()
    assert.equal(20, token_cache.failure_window(1, 20))
    assert.equal(60, token_cache.failure_window(1, 600))
  end)
end)
