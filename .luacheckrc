-- Lint for the local runtime's Lua and the unit specs. The plugin's own Lua is
-- generated from TypeScript and checked by the TypeScript compiler instead.
std = "ngx_lua"
globals = { "kong" }
max_line_length = 120
-- Specs stub os.getenv to load modules with a given environment.
files["spec/unit"] = { std = "+busted", globals = { "os" }, max_line_length = 130 }
files["spec/fixtures"] = { std = "+busted" }
