// The README and the examples say what the code does: the configuration
// reference lists exactly the schema's fields with their types and defaults,
// the README opens with the commands package.json provides, and every
// example configuration is accepted by the plugin's schema and serves its
// route. Needs `npm run build` first (the schema is read from build/lua).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { BUILD_LUA_DIR, freePort, REPO_ROOT, startGateway } from "../support/runtime/gateway.ts";

const README = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const EXAMPLES_DIR = join(REPO_ROOT, "examples");
const RUNTIME_LUA_DIR = join(REPO_ROOT, "spec/support/runtime/lua");

const DOCUMENTED_EXAMPLES = [
  "kong.yml",
  "managed-identity.yml",
  "user-assigned-identity.yml",
  "app-registration.yml",
  "app-registration-env-secret.yml",
  "workload-identity.yml",
];

interface FieldDoc {
  name: string;
  type: string;
  /** "yes" when a config must set the field, "no" when it may leave it out. */
  required: string;
  /** The default as text, or undefined when there is none. */
  default?: string;
}

// Walks the built schema and prints its config fields, records included, as
// JSON. A field must be set when it is required and has no default; a record
// (required unless it says otherwise, as in Kong) when one of its fields must.
const SCHEMA_FIELDS_LUA = `
local cjson = require "cjson"
local schema = require "kong.plugins.ai-proxy-azure.schema"
local fields = {}
local function walk(definitions, prefix)
  local must_set_any = false
  for _, entry in ipairs(definitions) do
    local name, definition = next(entry)
    local full_name = prefix .. name
    local row = { name = full_name, type = definition.type }
    fields[#fields + 1] = row
    local must_set
    if definition.type == "record" then
      local inner = walk(definition.fields, full_name .. ".")
      must_set = definition.required ~= false and definition.default == nil and inner
    else
      must_set = definition.required == true and definition.default == nil
      if definition.default ~= nil then
        row.default = tostring(definition.default)
      end
    end
    row.required = must_set and "yes" or "no"
    must_set_any = must_set_any or must_set
  end
  return must_set_any
end
for _, entry in ipairs(schema.fields) do
  local name, definition = next(entry)
  if name == "config" then
    walk(definition.fields, "config.")
  end
end
io.write(cjson.encode(fields))
`;


function schemaFields(): FieldDoc[] {
  const packagePath = [BUILD_LUA_DIR, RUNTIME_LUA_DIR].map((dir) => `${dir}/?.lua;${dir}/?/init.lua`).join(";");
  const result = spawnSync("luajit", ["-e", `package.path = ${JSON.stringify(packagePath)} .. ";" .. package.path`, "-e", SCHEMA_FIELDS_LUA], {
    encoding: "utf8",
  });
  assert.equal(result.status, 0, `luajit could not read the built schema (run npm run build): ${result.stderr}`);
  return JSON.parse(result.stdout) as FieldDoc[];
}


/** The rows of the table under "## Configuration reference". */
function documentedFields(): FieldDoc[] {
  const start = README.indexOf("\n## Configuration reference\n");
  assert.notEqual(start, -1, "the README has no '## Configuration reference' section");
  const rest = README.slice(start + 1);
  const next = rest.indexOf("\n## ", 1);
  const section = next === -1 ? rest : rest.slice(0, next);

  const rows: FieldDoc[] = [];
  for (const line of section.split("\n")) {
    const match = /^\|\s*`(config\.[^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (match === null) {
      continue;
    }
    const [type, required, defaultCell] = match[2]!.split("|").map((cell) => cell.trim());
    const row: FieldDoc = { name: match[1]!, type: type ?? "", required: required ?? "" };
    const defaultValue = /^`(.*)`$/.exec(defaultCell ?? "");
    if (defaultValue !== null) {
      row.default = defaultValue[1];
    } else {
      assert.equal(defaultCell, "—", `${row.name}: a default is written in backticks, or as — when there is none`);
    }
    rows.push(row);
  }
  return rows;
}


function byName(fields: FieldDoc[]): Map<string, FieldDoc> {
  return new Map(fields.map((field) => [field.name, field]));
}


describe("the README's configuration reference", () => {
  it("lists every field of the schema, and nothing else, once each", () => {
    const schemaNames = schemaFields().map((field) => field.name);
    const documentedNames = documentedFields().map((field) => field.name);
    const repeated = documentedNames.filter((name, index) => documentedNames.indexOf(name) !== index);
    assert.deepEqual(repeated, [], "fields listed more than once");
    assert.deepEqual(
      { missing: schemaNames.filter((name) => !documentedNames.includes(name)).sort() },
      { missing: [] },
      "schema fields the README does not list",
    );
    assert.deepEqual(
      { unknown: documentedNames.filter((name) => !schemaNames.includes(name)).sort() },
      { unknown: [] },
      "README rows for fields the schema does not have",
    );
  });

  it("gives each field the schema's type, default, and whether it must be set", () => {
    const documented = byName(documentedFields());
    for (const field of schemaFields()) {
      const row = documented.get(field.name);
      if (row !== undefined) {
        assert.deepEqual(row, field, `the README's row for ${field.name}`);
      }
    }
  });
});


describe("the README's opening", () => {
  it("opens with npm ci && npm start and npm ci && npm test, before any section", () => {
    const block = /```[a-z]*\n([\s\S]*?)```/.exec(README);
    assert.ok(block, "the README has no code block");
    const firstHeading = README.search(/^## /m);
    assert.ok(firstHeading === -1 || block.index < firstHeading, "the commands come after the first section");
    const commands = block[1]!
      .split("\n")
      .map((line) => line.replace(/\s+#.*$/, "").trim())
      .filter((line) => line !== "");
    assert.deepEqual(commands, ["npm ci && npm start", "npm ci && npm test"]);
  });

  it("names scripts that package.json has, with the lock file npm ci needs", () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> };
    assert.equal(typeof manifest.scripts?.start, "string", "package.json has no start script");
    assert.equal(typeof manifest.scripts?.test, "string", "package.json has no test script");
    assert.ok(existsSync(join(REPO_ROOT, "package-lock.json")), "npm ci needs package-lock.json");
  });
});


describe("the example configurations", () => {
  const files = readdirSync(EXAMPLES_DIR).filter((file) => file.endsWith(".yml")).sort();

  it("include one per documented configuration, each named in the README", () => {
    for (const file of DOCUMENTED_EXAMPLES) {
      assert.ok(files.includes(file), `examples/${file} is missing`);
      assert.ok(README.includes(`examples/${file}`), `the README does not mention examples/${file}`);
    }
  });

  for (const file of files) {
    it(`${file} is accepted by the local runtime and the plugin serves its route`, async () => {
      const path = join(EXAMPLES_DIR, file);
      const document = parseYaml(readFileSync(path, "utf8")) as { services: { routes: { paths: string[] }[] }[] };
      const routePath = document.services[0]!.routes[0]!.paths[0]!;

      const gateway = await startGateway({
        env: {
          PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
          KONG_DECLARATIVE_CONFIG: path,
          KONG_PROXY_LISTEN: `127.0.0.1:${await freePort()}`,
          KONG_NGINX_WORKER_PROCESSES: "1",
          KONG_LUA_PACKAGE_PATH: `${BUILD_LUA_DIR}/?.lua;${BUILD_LUA_DIR}/?/init.lua`,
        },
      });
      try {
        // A body the plugin refuses before it asks for a token or calls Azure:
        // the answer proves the plugin runs on that route, offline.
        const response = await fetch(`${gateway.url}${routePath}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "not json",
        });
        assert.equal(response.status, 400);
        assert.deepEqual(await response.json(), { error: { message: "request body must be a JSON object" } });
      } finally {
        await gateway.stop();
      }
    });
  }
});
