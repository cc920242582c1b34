-- The rock must carry every module the build writes, or Kong fails to load
-- the plugin from an installed rock while tests from build/ still pass.

local ROCKSPEC = "kong-plugin-ai-proxy-azure-0.1.0-1.rockspec"


local function rockspec_modules()
  local env = {}
  local chunk = assert(loadfile(ROCKSPEC))
  setfenv(chunk, env)
  chunk()
  return env.build.modules
end


local function built_modules()
  local modules = {}
  local find = assert(io.popen("find build/lua -name '*.lua' | sort"))
  for path in find:lines() do
    local name = path:gsub("^build/lua/", ""):gsub("%.lua$", ""):gsub("/", ".")
    modules[name] = path
  end
  find:close()
  return modules
end


describe("the rockspec", function()
  it("lists exactly the modules the build writes, each at its built path", function()
    assert.same(built_modules(), rockspec_modules())
  end)

  it("names every module under kong.plugins.ai-proxy-azure", function()
    for name in pairs(rockspec_modules()) do
      assert.truthy(name:find("^kong%.plugins%.ai%-proxy%-azure%."), name)
    end
  end)
end)
