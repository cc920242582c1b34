// The local runtime routes as Kong does: longest prefix, strip_path, and the
// service's path in front of what is left. Seen through a preserve route,
// which keeps the routed path.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BUILD_LUA_DIR, type Gateway } from "../support/runtime/gateway.ts";
import { SIM_API_KEY, startSimulator, type Simulator } from "../support/simulator/index.ts";
import { startGatewayFor } from "./support/gateway-for.ts";

function route(name: string, path: string, stripPath: boolean, sim: Simulator): object {
  return {
    name,
    paths: [path],
    strip_path: stripPath,
    plugins: [
      {
        name: "ai-proxy-azure",
        config: {
          route_type: "preserve",
          auth: { header_name: "api-key", header_value: SIM_API_KEY },
          model: {
            provider: "azure",
            options: { azure_instance: "my-openai-instance", azure_deployment_id: "kong-gpt-3-5", upstream_url: sim.httpUrl },
          },
        },
      },
    ],
  };
}

describe("routing in the local runtime", () => {
  let sim: Simulator;
  let gateway: Gateway;

  before(async () => {
    sim = await startSimulator();
    const config = {
      _format_version: "3.0",
      services: [
        {
          name: "azure-openai",
          url: "http://127.0.0.1:9/base",
          routes: [route("stripped", "/strip", true, sim), route("kept", "/keep", false, sim), route("longer", "/strip/longer", false, sim)],
        },
      ],
    };
    gateway = await startGatewayFor(config, { KONG_LUA_PACKAGE_PATH: `${BUILD_LUA_DIR}/?.lua` });
  });

  after(async () => {
    await gateway.stop();
    await sim.stop();
  });

  const cases = [
    { request: "/strip/x/y", upstream: "/base/x/y", what: "strips the matched prefix when strip_path is on" },
    { request: "/keep/x", upstream: "/base/keep/x", what: "keeps the whole path when strip_path is off" },
    { request: "/strip/longer/z", upstream: "/base/strip/longer/z", what: "picks the longest matching prefix" },
  ];
  for (const { request, upstream, what } of cases) {
    it(what, async () => {
      sim.control.clearJournal();
      await fetch(`${gateway.url}${request}`, { method: "POST", body: "{}" });
      const [entry] = sim.control.journal();
      assert.equal(entry?.path, upstream);
    });
  }

  it("answers 404 in Kong's words when no route matches", async () => {
    const response = await fetch(`${gateway.url}/nothing-here`);
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), { message: "no Route matched with those values" });
  });
});
