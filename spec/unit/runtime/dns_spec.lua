-- The local runtime resolves names as Kong does: the hosts file first, then
-- the nameservers of resolv.conf, asking for A records.

local dns = require "localkong.dns"


local function u16(n)
  return string.char(math.floor(n / 256), n % 256)
end


-- A DNS answer to query `id` for example.test: a CNAME, then an A record.
local function answer(id, rcode)
  local name = "\7example\4test\0"
  local header = u16(id) .. string.char(0x81, 0x80 + (rcode or 0)) .. u16(1) .. u16(2) .. u16(0) .. u16(0)
  local question = name .. u16(1) .. u16(1)
  local cname = "\192\12" .. u16(5) .. u16(1) .. u16(0) .. u16(60) .. u16(6) .. "\3www\192\12"
  local a = "\192\12" .. u16(1) .. u16(1) .. u16(0) .. u16(300) .. u16(4) .. string.char(10, 1, 2, 3)
  return header .. question .. cname .. a
end


describe("localkong.dns", function()
  it("reads IPv4 entries of a hosts file, first entry of a name winning, comments ignored", function()
    local hosts = dns._parse_hosts(table.concat({
      "127.0.0.1 localhost",
      "::1 localhost ip6-localhost",
      "10.0.0.5 api.internal Api.Other # a comment",
      "10.0.0.6 api.internal",
      "# 10.0.0.7 commented.out",
    }, "\n"))
    assert.same({ localhost = "127.0.0.1", ["api.internal"] = "10.0.0.5", ["api.other"] = "10.0.0.5" }, hosts)
  end)

  it("reads the nameservers of resolv.conf", function()
    local servers = dns._parse_resolv_conf("search example\nnameserver 10.0.0.2\noptions ndots:1\nnameserver 10.0.0.3\n")
    assert.same({ { "10.0.0.2", 53 }, { "10.0.0.3", 53 } }, servers)
  end)

  it("takes the A record of an answer, past a CNAME, with its TTL", function()
    local address, ttl = dns._parse_answer(answer(4242), 4242)
    assert.equal("10.1.2.3", address)
    assert.equal(300, ttl)
  end)

  it("refuses an answer to another query", function()
    local address, err = dns._parse_answer(answer(4242), 4243)
    assert.is_nil(address)
    assert.equal("malformed DNS answer", err)
  end)

  it("says when the name does not exist", function()
    local address, err = dns._parse_answer(answer(7, 3), 7)
    assert.is_nil(address)
    assert.equal("name not found", err)
  end)
end)
