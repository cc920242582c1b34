// Like Kong, the local runtime loads plugins in the master, which sees the
// environment, while its workers see none: the reason the plugin reads
// AZURE_* when it is loaded.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../support/runtime/gateway.ts";
import { startGatewayFor } from "./support/gateway-for.ts";

const PROBE_PLUGINS = join(REPO_ROOT, "spec/fixtures/plugins");

describe("the environment in the local runtime", () => {
  it("is visible when plugins load, in the master, and not in the workers", async () => {
    const gateway = await startGatewayFor(
      {
        _format_version: "3.0",
        services: [{ name: "probe", url: "http://127.0.0.1:9", routes: [{ name: "probe", paths: ["/probe"] }] }],
        plugins: [{ name: "env-probe" }],
      },
      {
        ENV_PROBE: "from-the-environment",
        KONG_PLUGINS: "env-probe",
        KONG_LUA_PACKAGE_PATH: `${PROBE_PLUGINS}/?.lua`,
      },
    );
    try {
      const response = await fetch(`${gateway.url}/probe`);
      assert.deepEqual(await response.json(), { at_load: "from-the-environment", in_worker: "unset" });
    } finally {
      await gateway.stop();
    }
  });
});
