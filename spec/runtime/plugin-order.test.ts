// Plugins of equal priority run in the order Kong gives them: by name, in
// reverse. The plugin has Kong's ai-proxy priority, 770, so the tie is real.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { freePort, REPO_ROOT, startGateway } from "../support/runtime/gateway.ts";

const PROBE_PLUGINS = join(REPO_ROOT, "spec/fixtures/plugins");

describe("plugins of one priority in the local runtime", () => {
  it("run in reverse order of their names, as in Kong", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-order-"));
    writeFileSync(
      join(dir, "kong.yml"),
      stringify({
        _format_version: "3.0",
        services: [{ name: "probe", url: "http://127.0.0.1:9", routes: [{ name: "probe", paths: ["/probe"] }] }],
        plugins: [{ name: "order-a" }, { name: "order-b" }],
      }),
    );
    const gateway = await startGateway({
      env: {
        PATH: process.env.PATH,
        KONG_DECLARATIVE_CONFIG: join(dir, "kong.yml"),
        KONG_PROXY_LISTEN: `127.0.0.1:${await freePort()}`,
        KONG_NGINX_WORKER_PROCESSES: "1",
        KONG_PLUGINS: "order-a,order-b",
        KONG_LUA_PACKAGE_PATH: `${PROBE_PLUGINS}/?.lua`,
      },
    });
    try {
      const response = await fetch(`${gateway.url}/probe`);
      assert.deepEqual(await response.json(), { order: ["order-b", "order-a"] });
    } finally {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
