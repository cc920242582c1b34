// `npm run gateway` refuses what Kong would refuse, with the reason and a
// non-zero exit, before serving anything.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { freePort, REPO_ROOT } from "../support/runtime/gateway.ts";

async function runGateway(config: string, extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["--import", "tsx", "scripts/gateway.ts"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 30_000,
    env: {
      PATH: process.env.PATH,
      KONG_DECLARATIVE_CONFIG: config,
      KONG_PROXY_LISTEN: `127.0.0.1:${await freePort()}`,
      ...extraEnv,
    },
  });
}

describe("npm run gateway with a configuration Kong would refuse", () => {
  const cases = [
    { file: "unknown-field.yml", message: /config\.not_a_field: unknown field/ },
    { file: "missing-instance.yml", message: /config\.model\.options\.azure_instance: required field missing/ },
    { file: "wrong-format.yml", message: /_format_version/ },
    { file: "does-not-exist.yml", message: /failed to read the declarative configuration/ },
  ];
  for (const { file, message } of cases) {
    it(`exits non-zero and says why for ${file}`, async () => {
      const result = await runGateway(`spec/fixtures/kong/${file}`);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, message);
    });
  }

  it("refuses a listener flag the local runtime cannot honour", async () => {
    const result = await runGateway("examples/kong.yml", { KONG_PROXY_LISTEN: "127.0.0.1:8443 ssl" });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /'ssl' flag is not supported/);
  });

  it("refuses the plugin when KONG_PLUGINS does not enable it", async () => {
    const result = await runGateway("examples/kong.yml", { KONG_PLUGINS: "bundled" });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /ai-proxy-azure/);
  });
});
