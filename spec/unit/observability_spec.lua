-- What the plugin reads from Azure's answers and how it lays the statistics
-- out for Kong's log plugins, on the built Lua.

local cjson = require "cjson.safe"
local observability = require "kong.plugins.ai-proxy-azure.observability"


local function chunk(fields)
  return "data: " .. assert(cjson.encode(fields)) .. "\n\n"
end


local FIRST = chunk({ id = "c1", model = "gpt-35-turbo-0613", object = "chat.completion.chunk",
                      choices = { { index = 0, delta = { role = "assistant", content = "Hello" } } } })
local LAST = chunk({ id = "c1", model = "gpt-35-turbo-0613", object = "chat.completion.chunk",
                     choices = { { index = 0, delta = {}, finish_reason = "stop" } } })
local USAGE = "data: {\"id\":\"c1\",\"model\":\"gpt-35-turbo-0613\",\"choices\":[],"
  .. "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}\n\n"
local DONE = "data: [DONE]\n\n"
local STREAM = FIRST .. LAST .. USAGE .. DONE


--- Feeds `stream` cut at the given byte positions; returns what the client got.
local function feed(reader, stream, cuts)
  local out, from = {}, 1
  for _, cut in ipairs(cuts) do
    out[#out + 1] = observability.read_sse(reader, stream:sub(from, cut), false)
    from = cut + 1
  end
  out[#out + 1] = observability.read_sse(reader, stream:sub(from), true)
  return table.concat(out)
end


describe("observability.read_sse", function()
  it("finds the usage and the model whatever byte the stream is cut at", function()
    for cut = 1, #STREAM - 1 do
      local reader = observability.new_sse_reader(false)
      local sent = feed(reader, STREAM, { cut })
      assert.equal(STREAM, sent)
      assert.same({ prompt_tokens = 12, completion_tokens = 7, total_tokens = 19 }, reader.facts.usage)
      assert.equal("gpt-35-turbo-0613", reader.facts.model)
    end
  end)

  it("finds the usage when every byte comes on its own", function()
    local cuts = {}
    for position = 1, #STREAM - 1 do
      cuts[#cuts + 1] = position
    end
    local reader = observability.new_sse_reader(false)
    assert.equal(STREAM, feed(reader, STREAM, cuts))
    assert.equal(19, reader.facts.usage.total_tokens)
  end)

  it("drops only the usage chunk from the client's stream when it strips, wherever the stream is cut", function()
    for cut = 1, #STREAM - 1 do
      local reader = observability.new_sse_reader(true)
      assert.equal(FIRST .. LAST .. DONE, feed(reader, STREAM, { cut, math.min(cut + 40, #STREAM - 1) }))
      assert.equal(7, reader.facts.usage.completion_tokens)
    end
  end)

  it("reads events separated by CRLF", function()
    local crlf = STREAM:gsub("\n\n", "\r\n\r\n")
    local reader = observability.new_sse_reader(true)
    assert.equal((FIRST .. LAST .. DONE):gsub("\n\n", "\r\n\r\n"), feed(reader, crlf, { 30 }))
    assert.equal(12, reader.facts.usage.prompt_tokens)
  end)

  it("keeps a chunk that carries usage next to choices", function()
    local both = chunk({ model = "m", choices = { { index = 0, text = "x" } },
                         usage = { prompt_tokens = 1, completion_tokens = 1, total_tokens = 2 } })
    local reader = observability.new_sse_reader(true)
    assert.equal(both .. DONE, feed(reader, both .. DONE, {}))
    assert.equal(2, reader.facts.usage.total_tokens)
  end)

  it("reads a last event that has no blank line after it", function()
    local reader = observability.new_sse_reader(false)
    feed(reader, FIRST .. USAGE:sub(1, -3), {})
    assert.equal(19, reader.facts.usage.total_tokens)
  end)

  it("leaves usage unknown for a stream without a usage chunk", function()
    local reader = observability.new_sse_reader(false)
    feed(reader, FIRST .. LAST .. DONE, { 10 })
    assert.is_nil(reader.facts.usage)
    assert.equal("gpt-35-turbo-0613", reader.facts.model)
  end)
end)


describe("observability.json_facts", function()
  local cases = {
    { name = "reads a chat completion's model and usage",
      body = '{"model":"gpt-4o-2024-05-13","usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}',
      expected = { model = "gpt-4o-2024-05-13",
                   usage = { prompt_tokens = 5, completion_tokens = 3, total_tokens = 8 } } },
    { name = "reads embeddings usage, which has no completion tokens",
      body = '{"object":"list","model":"text-embedding-ada-002","usage":{"prompt_tokens":2,"total_tokens":2}}',
      expected = { model = "text-embedding-ada-002", usage = { prompt_tokens = 2, total_tokens = 2 } } },
    { name = "reads nothing from an error without usage",
      body = '{"error":{"code":"429","message":"Too many requests"}}', expected = {} },
    { name = "reads nothing from a body that is not JSON", body = "<html>bad gateway</html>", expected = {} },
  }
  for _, case in ipairs(cases) do
    it(case.name, function()
      assert.same(case.expected, observability.json_facts(case.body))
    end)
  end
end)


describe("observability.cut_payload", function()
  it("keeps a body up to the limit as it is", function()
    assert.equal("abcd", observability.cut_payload("abcd", 4))
  end)

  it("cuts a longer body at the limit and says so, with its full size", function()
    assert.equal("abcd[cut by ai-proxy-azure: 4 of 10 bytes logged]", observability.cut_payload("abcdefghij", 4))
  end)

  it("never splits a UTF-8 character", function()
    -- "é" is two bytes: a cut after 2 bytes would keep half of it.
    assert.equal("a[cut by ai-proxy-azure: 2 of 5 bytes logged]", observability.cut_payload("a\195\169bc", 2))
  end)

  it("never splits a UTF-8 character of a body whose start alone was kept", function()
    -- One byte past the limit is kept, so the cut sees the character goes on.
    assert.equal("a[cut by ai-proxy-azure: 2 of 9 bytes logged]", observability.cut_payload("a\195\169", 2, 9))
  end)

  it("marks a body whose start alone was kept", function()
    local kept = observability.new_capture(4)
    observability.capture(kept, "abc")
    observability.capture(kept, "defgh")
    assert.equal(8, kept.total)
    assert.equal("abcd[cut by ai-proxy-azure: 4 of 8 bytes logged]",
                 observability.cut_payload(table.concat(kept.pieces), 4, kept.total))
  end)

  it("cuts at 64 KiB", function()
    assert.equal(65536, observability.PAYLOAD_LIMIT)
  end)
end)


describe("observability.accepts_stream_options", function()
  local cases = {
    { "2023-05-15", false }, { "2024-06-01", false }, { "2024-08-01-preview", false },
    { "2024-09-01-preview", true }, { "2024-10-21", true }, { "2025-04-01-preview", true },
    { "latest", false },
  }
  for _, case in ipairs(cases) do
    it(("%s for api-version %s"):format(tostring(case[2]), case[1]), function()
      assert.equal(case[2], observability.accepts_stream_options(case[1]))
    end)
  end
end)


describe("observability.statistics_entries", function()
  local conf = {
    __plugin_id = "6f1b0a43-0000-4000-8000-000000000001",
    model = { provider = "azure", name = "gpt-35-turbo",
              options = { azure_instance = "my-openai-instance", azure_deployment_id = "kong-gpt-3-5",
                          azure_api_version = "2023-05-15" } },
  }
  local facts = { model = "gpt-35-turbo-0613", usage = { prompt_tokens = 12, completion_tokens = 7, total_tokens = 19 } }

  it("lays the statistics out under ai.proxy as Kong 3.9's ai-proxy does", function()
    local entries = observability.statistics_entries(conf, nil, facts, "2024-10-21", 350)
    assert.same({
      { "ai.proxy.meta", {
          plugin_id = "6f1b0a43-0000-4000-8000-000000000001",
          provider_name = "azure",
          request_model = "gpt-35-turbo",
          response_model = "gpt-35-turbo-0613",
          llm_latency = 350,
          azure_instance_id = "my-openai-instance",
          azure_deployment_id = "kong-gpt-3-5",
          azure_api_version = "2024-10-21",
      } },
      { "ai.proxy.usage", { prompt_tokens = 12, completion_tokens = 7, total_tokens = 19, time_per_token = 50 } },
      { "ai.proxy.cache", {} },
    }, entries)
  end)

  it("takes the request model from the body when the config names none, and UNSPECIFIED without either", function()
    local unnamed = { model = { provider = "azure", options = conf.model.options } }
    assert.equal("gpt-4o", observability.statistics_entries(unnamed, "gpt-4o", {}, "2023-05-15")[1][2].request_model)
    local meta = observability.statistics_entries(unnamed, nil, {}, "2023-05-15")[1][2]
    assert.equal("UNSPECIFIED", meta.request_model)
    assert.equal("UNSPECIFIED", meta.response_model)
  end)

  it("gives no time per token without completion tokens", function()
    local usage = observability.usage_entry({ prompt_tokens = 2, total_tokens = 2 }, 40)
    assert.same({ prompt_tokens = 2, total_tokens = 2 }, usage)
  end)

  it("gives no usage when the answer had none", function()
    assert.same({}, observability.usage_entry(nil, 40))
  end)
end)
