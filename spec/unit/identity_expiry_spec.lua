-- When a managed identity token expires, read from every form of expires_on
-- that identity endpoints send (spec/fixtures/identity/expires_on). The
-- expected times were computed apart from the plugin (Python's calendar.timegm).

local cjson = require "cjson.safe"
local expiry = require "kong.plugins.ai-proxy-azure.identity.expiry"
local managed = require "kong.plugins.ai-proxy-azure.identity.managed_identity"

-- 2023-11-14 22:13:20 UTC
local NOW = 1700000000


local function fixture(name)
  local file = assert(io.open("spec/fixtures/identity/expires_on/" .. name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end


local function answer(name)
  return assert(cjson.decode(fixture(name)))
end


describe("Managed identity token expiry", function()
  describe("reads expires_on", function()
    for _, case in ipairs({
      { what = "as epoch seconds in a string (App Service, IMDS)", file = "appservice_epoch_string.json", at = 1700086399 },
      { what = "as epoch seconds in a number", file = "epoch_number.json", at = 1700086399 },
      { what = "as epoch milliseconds", file = "epoch_milliseconds.json", at = 1700086399 },
      { what = "as the legacy Linux date string", file = "legacy_linux_date.json", at = 1700086399 },
      { what = "as the Windows date string, PM", file = "legacy_windows_date_pm.json", at = 1700086399 },
      { what = "as the Windows date string, AM", file = "legacy_windows_date_am.json", at = 1700039107 },
      { what = "with 12 AM as midnight", file = "legacy_windows_date_midnight.json", at = 1700092800 },
      { what = "with 12 PM as noon", file = "legacy_windows_date_noon.json", at = 1700049600 },
      { what = "with an offset other than +00:00", file = "legacy_date_with_offset.json", at = 1700086399 },
      { what = "with single-digit month, day and hour", file = "legacy_date_single_digits.json", at = 1704164645 },
      { what = "on a leap day", file = "leap_day.json", at = 1709164800 },
      { what = "as an ISO 8601 time with a fraction", file = "iso_date.json", at = 1700086399 },
    }) do
      it(case.what, function()
        assert.equal(case.at, expiry.expiry_of(answer(case.file), NOW))
      end)
    end
  end)


  describe("falls back to expires_in", function()
    for _, case in ipairs({
      { what = "when expires_on is not a date", file = "unreadable_date_with_expires_in.json" },
      { what = "when expires_on names a day that does not exist", file = "impossible_date_with_expires_in.json" },
      { what = "when expires_on is already past", file = "past_expires_on_with_expires_in.json" },
    }) do
      it(case.what, function()
        assert.equal(NOW + 3599, expiry.expiry_of(answer(case.file), NOW))
      end)
    end
  end)


  describe("never takes a token as expired because of its format", function()
    for _, file in ipairs({ "unreadable_date_alone.json", "zero_expires_on_alone.json" }) do
      it("reports " .. file .. " as unreadable instead", function()
        assert.is_nil(expiry.expiry_of(answer(file), NOW))

        local token, err = managed.read_answer({ status = 200, body = fixture(file), headers = {} }, NOW, {
          source = "managed identity (App Service)",
          service = "the App Service identity endpoint",
          endpoint_host = "127.0.0.1:41000",
          secrets = {},
        })
        assert.is_nil(token)
        assert.equal("transient", err.kind)
        assert.equal("managed identity (App Service) sent a token response that could not be read", err.message)
      end)
    end

    it("gives every legacy date a time ahead of when it was issued", function()
      for _, file in ipairs({
        "legacy_linux_date.json", "legacy_windows_date_pm.json", "legacy_windows_date_am.json",
        "legacy_windows_date_midnight.json", "legacy_windows_date_noon.json", "legacy_date_single_digits.json",
      }) do
        assert.is_true(expiry.expiry_of(answer(file), NOW) > NOW, file)
      end
    end)
  end)


  describe("parse_expires_on", function()
    for _, case in ipairs({
      { what = "refuses a 13th month", value = "13/01/2024 00:00:00 +00:00" },
      { what = "refuses hour 13 with AM", value = "1/2/2024 13:04:05 AM +00:00" },
      { what = "refuses hour 0 with PM", value = "1/2/2024 0:04:05 PM +00:00" },
      { what = "refuses an unknown zone", value = "01/02/2024 03:04:05 CET" },
      { what = "refuses a negative number", value = -5 },
      { what = "refuses a boolean", value = true },
    }) do
      it(case.what, function()
        assert.is_nil(expiry.parse_expires_on(case.value))
      end)
    end

    it("counts 29 February only in leap years", function()
      assert.is_nil(expiry.parse_expires_on("02/29/2023 00:00:00 +00:00"))
      assert.is_nil(expiry.parse_expires_on("02/29/2100 00:00:00 +00:00"))
      assert.equal(951782400, expiry.parse_expires_on("02/29/2000 00:00:00 +00:00"))
    end)
  end)
end)
