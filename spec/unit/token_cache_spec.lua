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


-- Two workers, played in one process: the shared dicts are tables, and the
-- other worker acts at the moment this one reads the shared token.
describe("token_cache.get_token, when another worker's fetch ends just before this one takes the lock", function()
  local dicts, hooks, fetches

  local function dict(name)
    local values = {}
    return {
      values = values,
      get = function(_, key)
        local value = values[key]
        local hook = hooks[name .. " get " .. key]
        if hook ~= nil then
          hooks[name .. " get " .. key] = nil
          hook()
        end
        return value
      end,
      set = function(_, key, value) values[key] = value; return true end,
      add = function(_, key, value)
        if values[key] ~= nil then
          return false, "exists"
        end
        values[key] = value
        return true
      end,
      delete = function(_, key)
        local hook = hooks[name .. " delete " .. key]
        if hook ~= nil then
          hooks[name .. " delete " .. key] = nil
          hook()
        end
        values[key] = nil
      end,
      incr = function(_, key, by, init)
        values[key] = (values[key] or init) + by
        return values[key]
      end,
    }
  end

  local function source(key, token)
    return {
      cache_key = key, label = "managed identity (IMDS)", identity = "system-assigned", endpoint_host = "127.0.0.1",
      fetch = function()
        fetches = fetches + 1
        return token
      end,
    }
  end

  local noop = function() end

  before_each(function()
    dicts = { kong = dict("kong"), kong_locks = dict("kong_locks") }
    hooks, fetches = {}, 0
    _G.ngx = {
      shared = dicts,
      now = function() return NOW end,
      update_time = noop,
      sleep = noop,
      worker = { exiting = function() return false end },
      timer = { at = function(_, callback, ...) callback(false, ...); return true end },
    }
    _G.kong = { log = { info = noop, warn = noop, err = noop, debug = noop } }
  end)

  after_each(function()
    _G.ngx, _G.kong = nil, nil
  end)

  it("uses the token that fetch shared instead of fetching a second time", function()
    local key = "handoff-token"
    local theirs = { access_token = "theirs", expires_at = NOW + 3600 }
    dicts.kong_locks.values["ai-proxy-azure:fetch:" .. key] = true
    hooks["kong get ai-proxy-azure:token:" .. key] = function()
      -- The other worker stores its token and releases the lock.
      dicts.kong.values["ai-proxy-azure:token:" .. key] =
        string.format("%.3f %.3f %s", theirs.expires_at, NOW + 3300, theirs.access_token)
      dicts.kong_locks.values["ai-proxy-azure:fetch:" .. key] = nil
    end

    local token, err = token_cache.get_token(source(key, { access_token = "mine", expires_at = NOW + 3600 }), 5)
    assert.is_nil(err)
    assert.equal("theirs", token.access_token)
    assert.equal(0, fetches)
    assert.is_nil(dicts.kong_locks.values["ai-proxy-azure:fetch:" .. key])
  end)

  it("fails with that fetch's failure instead of asking the endpoint again", function()
    local key = "handoff-failure"
    dicts.kong_locks.values["ai-proxy-azure:fetch:" .. key] = true
    hooks["kong get ai-proxy-azure:failure:" .. key] = function()
      -- Read once by get_token before the lock is taken: the failure lands just after.
      hooks["kong get ai-proxy-azure:failure:" .. key] = function() end
      dicts.kong.values["ai-proxy-azure:failure:" .. key] =
        '{"message":"IMDS is down","detail":"HTTP 500","kind":"transient","source":"managed identity (IMDS)"}'
      dicts.kong_locks.values["ai-proxy-azure:fetch:" .. key] = nil
    end

    local token, err = token_cache.get_token(source(key, { access_token = "mine", expires_at = NOW + 3600 }), 5)
    assert.is_nil(token)
    assert.equal("IMDS is down", err.message)
    assert.equal(0, fetches)
  end)

  it("shares a renewed token before it releases the lock", function()
    local key = "renewal-order"
    local old = { access_token = "old", expires_at = NOW + 3600 }
    local renewed = { access_token = "renewed", expires_at = NOW + 7200 }
    dicts.kong.values["ai-proxy-azure:token:" .. key] = string.format("%.3f %.3f %s", old.expires_at, NOW + 3300, "old")
    local shared_when_released
    hooks["kong_locks delete ai-proxy-azure:fetch:" .. key] = function()
      shared_when_released = dicts.kong.values["ai-proxy-azure:token:" .. key]
    end

    -- Azure refused the old token: it is dropped and renewed in a timer (run at once here).
    token_cache.evict(source(key, renewed), "old", 5)
    assert.equal(1, fetches)
    assert.is_truthy(shared_when_released and shared_when_released:find(" renewed$"))
  end)
end)
