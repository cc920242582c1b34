-- The codec the plugin decodes and re-encodes client bodies with, and how it
-- tells a JSON array from an object.

local MODULE = "kong.plugins.ai-proxy-azure.json"


--- Loads the module afresh over a cjson.safe whose new() makes `make_codec()`.
local function load_with(make_codec)
  local real = require "cjson.safe"
  local saved_cjson, saved_module = package.loaded["cjson.safe"], package.loaded[MODULE]
  package.loaded["cjson.safe"] = setmetatable({ new = make_codec }, { __index = real })
  package.loaded[MODULE] = nil
  local ok, loaded = pcall(require, MODULE)
  package.loaded["cjson.safe"], package.loaded[MODULE] = saved_cjson, saved_module
  return assert(ok and loaded, loaded)
end


local REAL_CJSON = require "cjson.safe"


--- A codec like OpenResty's cjson: it can mark decoded arrays, and encodes up to 16 digits.
local function openresty_like(calls)
  local marker = {}
  local codec = REAL_CJSON.new()
  return {
    array_mt = marker,
    encode = codec.encode,
    decode = codec.decode,
    decode_array_with_array_mt = function(enabled) calls.array_mt = enabled end,
    encode_number_precision = function(digits) calls.precision = digits end,
  }
end


describe("Plugin: ai-proxy-azure (json)", function()
  local json = require(MODULE)

  describe("is_array", function()
    for _, case in ipairs({
      { text = '[1, 2]', array = true },
      { text = '[{"role": "user"}]', array = true },
      { text = '{"messages": []}', array = false },
      { text = '{"1": "a key, not an index"}', array = false },
      { text = '"a string"', array = false },
    }) do
      it((case.array and "knows " or "does not take ") .. case.text .. " for an array", function()
        assert.equal(case.array, json.is_array((json.body_json.decode(case.text))))
      end)
    end
  end)

  describe("with OpenResty's cjson, as in Kong", function()
    it("keeps decoded arrays marked, so an empty one is sent on as []", function()
      local calls = {}
      local loaded = load_with(function() return openresty_like(calls) end)
      assert.is_true(calls.array_mt)
      assert.is_true(loaded.is_array(setmetatable({}, loaded.body_json.array_mt)))
    end)

    it("encodes numbers with 16 digits, as Kong sets for its own cjson", function()
      local calls = {}
      load_with(function() return openresty_like(calls) end)
      assert.equal(16, calls.precision)
    end)
  end)

  describe("with a cjson that has neither setting", function()
    it("keeps 14 digits and loads", function()
      local digits = {}
      local loaded = load_with(function()
        local codec = REAL_CJSON.new()
        return {
          encode = codec.encode,
          decode = codec.decode,
          encode_number_precision = function(n)
            if n > 14 then error("bad argument #1 to '?' (expected integer between 1 and 14)") end
            digits[#digits + 1] = n
          end,
        }
      end)
      assert.same({ 14 }, digits)
      assert.equal('{"a":1}', loaded.body_json.encode({ a = 1 }))
    end)
  end)
end)
