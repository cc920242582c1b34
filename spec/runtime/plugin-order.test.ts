// Plugins of equal priority run in the order Kong gives them: by name, in
// reverse. The plugin has Kong's ai-proxy priority, 770, so the tie is real.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../support/runtime/gateway.ts";
import { startGatewayFor } from "./support/gateway-for.ts";

const PROBE_PLUGINS = join(REPO_ROOT, "spec/fixtures/plugins");

describe("plugins of one priority in the local runtime", () => {
  it("run in reverse order of their names, as in Kong", async () => {
    const gateway = await startGatewayFor(
      {
        _format_version: "3.0",
        services: [{ name: "probe", url: "http://127.0.0.1:9", routes: [{ name: "probe", paths: ["/probe"] }] }],
        plugins: [{ name: "order-a" }, { name: "order-b" }],
      },
      { KONG_PLUGINS: "order-a,order-b", KONG_LUA_PACKAGE_PATH: `${PROBE_PLUGINS}/?.lua` },
    );
    try {
      const response = await fetch(`${gateway.url}/probe`);
      assert.deepEqual(await response.json(), { order: ["order-b", "order-a"] });
    } finally {
      await gateway.stop();
    }
  });
});
