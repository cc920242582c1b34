// The plugin as Kong gets it: installed by luarocks, found on
// KONG_LUA_PACKAGE_PATH, with no Node and no build folder involved.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { installRock, luaPathOf, makeRock, packRock } from "../support/rock.ts";
import { SIM_API_KEY, startSimulator, type Simulator } from "../support/simulator/index.ts";
import { startGatewayFor } from "./support/gateway-for.ts";

function chatConfig(sim: Simulator): object {
  return {
    _format_version: "3.0",
    services: [
      {
        name: "azure-openai",
        url: "http://127.0.0.1:9",
        routes: [
          {
            name: "chat",
            paths: ["/openai"],
            plugins: [
              {
                name: "ai-proxy-azure",
                config: {
                  route_type: "llm/v1/chat",
                  auth: { header_name: "api-key", header_value: SIM_API_KEY },
                  model: {
                    provider: "azure",
                    name: "gpt-35-turbo",
                    options: {
                      azure_instance: "my-openai-instance",
                      azure_deployment_id: "gpt-35-turbo",
                      upstream_url: `${sim.httpUrl}/openai/deployments/gpt-35-turbo/chat/completions`,
                    },
                  },
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

describe("the rock", () => {
  let sim: Simulator;
  let work: string;

  before(async () => {
    sim = await startSimulator();
    work = mkdtempSync(join(tmpdir(), "ai-proxy-azure-rock-"));
  });

  after(async () => {
    await sim.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function servesChatFrom(tree: string): Promise<void> {
    const gateway = await startGatewayFor(chatConfig(sim), { KONG_LUA_PACKAGE_PATH: luaPathOf(tree) });
    try {
      const response = await fetch(`${gateway.url}/openai`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }] }),
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-kong-llm-model"), "azure/gpt-35-turbo");
    } finally {
      await gateway.stop();
    }
  }

  it("installs with luarocks make, and the gateway serves requests with the plugin from that tree", async () => {
    const tree = join(work, "make-tree");
    makeRock(tree);
    await servesChatFrom(tree);
  });

  it("packs into a .rock that luarocks installs on its own", async () => {
    const rock = packRock(join(work, "pack"));
    const tree = join(work, "install-tree");
    installRock(rock, tree);
    await servesChatFrom(tree);
  });

  it("fails to start when the plugin is not on the package path", async () => {
    await assert.rejects(servesChatFrom(join(work, "empty-tree")), /failed to load plugin 'ai-proxy-azure'/);
  });
});
