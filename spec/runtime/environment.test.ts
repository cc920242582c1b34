// Like Kong, the local runtime loads plugins in the master, which sees the
// environment, while its workers see none: the reason the plugin reads
// AZURE_* when it is loaded.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { freePort, REPO_ROOT, startGateway } from "../support/runtime/gateway.ts";

const PROBE_PLUGINS = join(REPO_ROOT, "spec/fixtures/plugins");

describe("the environment in the local runtime", () => {
  it("is visible when plugins load, in the master, and not in the workers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-env-"));
    writeFileSync(
      join(dir, "kong.yml"),
      stringify({
        _format_version: "3.0",
        services: [{ name: "probe", url: "http://127.0.0.1:9", routes: [{ name: "probe", paths: ["/probe"] }] }],
        plugins: [{ name: "env-probe" }],
      }),
    );
    const gateway = await startGateway({
      env: {
        PATH: process.env.PATH,
        ENV_PROBE: "from-the-environment",
        KONG_DECLARATIVE_CONFIG: join(dir, "kong.yml"),
        KONG_PROXY_LISTEN: `127.0.0.1:${await freePort()}`,
        KONG_NGINX_WORKER_PROCESSES: "1",
        KONG_PLUGINS: "env-probe",
        KONG_LUA_PACKAGE_PATH: `${PROBE_PLUGINS}/?.lua`,
      },
    });
    try {
      const response = await fetch(`${gateway.url}/probe`);
      assert.deepEqual(await response.json(), { at_load: "from-the-environment", in_worker: "unset" });
    } finally {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
