-- The HTTP client's request building and response parsing, driven through a
-- fake socket that replays canned responses (spec/fixtures/http, written with
-- LF line ends and sent with CRLF, as servers do).

local http = require "kong.plugins.ai-proxy-azure.http"
local url = require "kong.plugins.ai-proxy-azure.url"


local function fixture(name)
  local file = assert(io.open("spec/fixtures/http/" .. name, "rb"))
  local text = file:read("*a")
  file:close()
  return (text:gsub("\n", "\r\n"))
end


-- Replays bytes as an ngx cosocket would: "*l" strips CR LF; a byte count
-- waits for all of them; the end of the data is "closed" (or end_error) with
-- what was left as the partial result.
local function fake_socket(data, end_error)
  local position = 1
  local socket = { timeouts = {}, reads = 0 }

  function socket:settimeout(ms)
    self.timeouts[#self.timeouts + 1] = ms
  end

  function socket:receive(pattern)
    self.reads = self.reads + 1
    if pattern == "*l" then
      local line_end = data:find("\n", position, true)
      if not line_end then
        local partial = data:sub(position)
        position = #data + 1
        return nil, end_error or "closed", partial
      end
      local line = data:sub(position, line_end - 1):gsub("\r$", "")
      position = line_end + 1
      return line
    end
    if position + pattern - 1 > #data then
      local partial = data:sub(position)
      position = #data + 1
      return nil, end_error or "closed", partial
    end
    local block = data:sub(position, position + pattern - 1)
    position = position + pattern
    return block
  end

  return socket
end


local function plenty_of_time()
  return 5000
end


local function read(data, max_body_bytes, end_error)
  return http.read_response(fake_socket(data, end_error), plenty_of_time, max_body_bytes or 65536)
end


describe("HTTP client", function()
  describe("building a request", function()
    local function build(method, address, headers, body)
      local target = assert(url.parse_url(address))
      return http.build_request(method, target, headers, body)
    end

    it("sends Host, Connection: close and its User-Agent on a GET without a body", function()
      local bytes = assert(build("GET", "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
        { Metadata = "true" }))

      assert.equal(table.concat({
        "GET /metadata/identity/oauth2/token?api-version=2018-02-01 HTTP/1.1",
        "Host: 169.254.169.254",
        "Connection: close",
        "Metadata: true",
        "User-Agent: kong-plugin-ai-proxy-azure/0.1.0",
        "", "",
      }, "\r\n"), bytes)
    end)

    it("puts a port that is not the scheme's default in Host", function()
      local bytes = assert(build("GET", "https://login.example.test:8443/t/oauth2/v2.0/token"))

      assert.matches("\r\nHost: login.example.test:8443\r\n", bytes, 1, true)
    end)

    it("sends Content-Length and the body on a POST", function()
      local bytes = assert(build("POST", "https://login.example.test/t", { ["Content-Type"] = "text/plain" }, "a=1"))

      assert.matches("\r\nContent-Length: 3\r\n", bytes, 1, true)
      assert.equal("\r\n\r\na=1", bytes:sub(-7))
    end)

    it("keeps its own framing headers when the caller sends others", function()
      local bytes = assert(build("POST", "http://example.test/", {
        ["content-length"] = "999", Connection = "keep-alive", Host = "evil.test",
      }, "xy"))

      assert.not_matches("999", bytes, 1, true)
      assert.not_matches("keep-alive", bytes, 1, true)
      assert.not_matches("evil.test", bytes, 1, true)
      assert.matches("\r\nContent-Length: 2\r\n", bytes, 1, true)
    end)

    it("lets the caller replace the User-Agent", function()
      local bytes = assert(build("GET", "http://example.test/", { ["User-Agent"] = "probe/1" }))

      assert.matches("\r\nUser-Agent: probe/1\r\n", bytes, 1, true)
      assert.not_matches("kong-plugin-ai-proxy-azure", bytes, 1, true)
    end)

    it("refuses a header value with a line break", function()
      local bytes, err = build("GET", "http://example.test/", { Metadata = "true\r\nX-Injected: 1" })

      assert.is_nil(bytes)
      assert.equal("failed to build the request: header Metadata has a control character", err)
    end)

    it("refuses a header name that is not a token", function()
      local bytes, err = build("GET", "http://example.test/", { ["Bad Name"] = "x" })

      assert.is_nil(bytes)
      assert.equal("failed to build the request: bad header name Bad Name", err)
    end)
  end)


  describe("encoding query and form fields", function()
    it("keeps the order given and percent-encodes as encodeURIComponent does", function()
      local encoded = http.encode_fields({
        { "resource", "https://cognitiveservices.azure.com" },
        { "scope", "a b+c/.default" },
        { "keep", "AZaz09-_.!~*'()" },
      })

      assert.equal("resource=https%3A%2F%2Fcognitiveservices.azure.com&scope=a%20b%2Bc%2F.default"
        .. "&keep=AZaz09-_.!~*'()", encoded)
    end)
  end)


  describe("parsing a status line", function()
    for _, case in ipairs({
      { line = "HTTP/1.1 200 OK", status = 200 },
      { line = "HTTP/1.0 503 Service Unavailable", status = 503 },
      { line = "HTTP/1.1 404", status = 404 },
    }) do
      it("reads " .. case.status .. " from '" .. case.line .. "'", function()
        assert.equal(case.status, http.parse_status_line(case.line))
      end)
    end

    for _, line in ipairs({ "", "HTTP/2 200 OK", "SSH-2.0-OpenSSH_9.6", "HTTP/1.1 20 OK" }) do
      it("refuses '" .. line .. "'", function()
        local status, err = http.parse_status_line(line)
        assert.is_nil(status)
        assert.equal("failed to parse the status line", err)
      end)
    end
  end)


  describe("parsing a header line", function()
    it("lower-cases the name and trims the value", function()
      local name, value = http.parse_header_line("Retry-After: \t 30 ")
      assert.equal("retry-after", name)
      assert.equal("30", value)
    end)

    it("keeps colons inside the value", function()
      local name, value = http.parse_header_line("Location: http://example.test:80/x")
      assert.equal("location", name)
      assert.equal("http://example.test:80/x", value)
    end)

    it("refuses a line without a name", function()
      local name, err = http.parse_header_line(" folded continuation")
      assert.is_nil(name)
      assert.equal("failed to parse a response header", err)
    end)
  end)


  describe("parsing a chunk size", function()
    for _, case in ipairs({
      { line = "0", size = 0 },
      { line = "1a", size = 26 },
      { line = "FF;ext=1", size = 255 },
      { line = "10 ", size = 16 },
    }) do
      it("reads " .. case.size .. " from '" .. case.line .. "'", function()
        assert.equal(case.size, http.parse_chunk_size(case.line))
      end)
    end

    for _, line in ipairs({ "", "zz", "-1", "123456789" }) do
      it("refuses '" .. line .. "'", function()
        local size, err = http.parse_chunk_size(line)
        assert.is_nil(size)
        assert.equal("failed to parse a chunk size", err)
      end)
    end
  end)


  describe("reading a response", function()
    it("reads a body framed by Content-Length and lower-cases header names", function()
      local response = assert(read(fixture("content_length.http")))

      assert.equal(200, response.status)
      assert.equal('{"access_token":"abc.def"}', response.body)
      assert.equal("application/json; charset=utf-8", response.headers["content-type"])
      assert.equal("spaced value", response.headers["x-padded"])
    end)

    it("joins repeated headers with a comma", function()
      local response = assert(read(fixture("content_length.http")))

      assert.equal("a=1, b=2", response.headers["set-cookie"])
    end)

    it("decodes a chunked body and skips chunk extensions and trailers", function()
      local response = assert(read(fixture("chunked.http")))

      assert.equal('{"access_token":"abc.def"}', response.body)
      assert.is_nil(response.headers["x-trailer"])
    end)

    it("reads a body without framing until the server closes", function()
      local response = assert(read(fixture("until_close.http")))

      assert.equal(503, response.status)
      assert.equal("7", response.headers["retry-after"])
      assert.equal("try again later\r\n", response.body)
    end)

    it("skips an informational response before the real one", function()
      local response = assert(read(fixture("continue_then_created.http")))

      assert.equal(201, response.status)
      assert.equal("ok", response.body)
    end)

    it("accepts lines that end in LF alone", function()
      local response = assert(read("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"))

      assert.equal("hi", response.body)
    end)

    it("gives an empty body for 204 without reading further", function()
      local socket = fake_socket("HTTP/1.1 204 No Content\r\n\r\n")
      local response = assert(http.read_response(socket, plenty_of_time, 65536))

      assert.equal("", response.body)
      assert.equal(2, socket.reads)
    end)

    it("sets the socket timeout to what is left before each read", function()
      local left = { 300, 200, 100, 50 }
      local socket = fake_socket("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
      assert(http.read_response(socket, function() return table.remove(left, 1) end, 65536))

      assert.same({ 300, 200, 100, 50 }, socket.timeouts)
    end)
  end)


  describe("refusing a response", function()
    for _, case in ipairs({
      {
        what = "a Content-Length above the cap, before reading the body",
        data = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a",
        cap = 10,
      },
      {
        what = "chunks that add up to more than the cap",
        data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n",
        cap = 10,
      },
      {
        what = "a body read until close that passes the cap",
        data = "HTTP/1.1 200 OK\r\n\r\n" .. string.rep("x", 20),
        cap = 10,
      },
    }) do
      it("when it is larger than the cap: " .. case.what, function()
        local response, err = read(case.data, case.cap)

        assert.is_nil(response)
        assert.equal("failed to read the response body: response larger than 10 bytes", err)
      end)
    end

    it("accepts a body of exactly the cap read until close", function()
      local response = assert(read("HTTP/1.1 200 OK\r\n\r\n" .. string.rep("x", 10), 10))

      assert.equal(10, #response.body)
    end)

    for _, case in ipairs({
      { what = "a status line that is not HTTP", data = "garbage\r\n", err = "failed to parse the status line" },
      {
        what = "a connection closed inside the headers",
        data = "HTTP/1.1 200 OK\r\nContent-Le",
        err = "failed to read the response headers: closed",
      },
      {
        what = "a body shorter than its Content-Length",
        data = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
        err = "failed to read the response body: closed",
      },
      {
        what = "a Content-Length that is not a number",
        data = "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
        err = "failed to read the response body: bad content-length",
      },
      {
        what = "a transfer-encoding other than chunked",
        data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        err = "failed to read the response body: unsupported transfer-encoding gzip",
      },
      {
        what = "a chunk not followed by its line end",
        data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        err = "failed to read the response body: bad chunk end",
      },
      {
        what = "too many header lines",
        data = "HTTP/1.1 200 OK\r\n" .. string.rep("X-A: 1\r\n", 101) .. "\r\n",
        err = "failed to read the response headers: more than 100",
      },
    }) do
      it("with a clear reason for " .. case.what, function()
        local response, err = read(case.data)

        assert.is_nil(response)
        assert.equal(case.err, err)
      end)
    end

    it("says timeout when the server stops sending", function()
      local response, err = read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", nil, "timeout")

      assert.is_nil(response)
      assert.equal("failed to read the response body: timeout", err)
    end)

    it("says timeout without reading once the deadline has passed", function()
      local socket = fake_socket("HTTP/1.1 200 OK\r\n\r\n")
      local response, err = http.read_response(socket, function() return 0 end, 65536)

      assert.is_nil(response)
      assert.equal("failed to read the status line: timeout", err)
      assert.equal(0, socket.reads)
    end)
  end)
end)
