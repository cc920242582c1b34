// A one-worker local gateway on a free port for a kong.yml given as an object,
// for runtime tests that each need a small configuration of their own.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort, startGateway, type Gateway } from "../../support/runtime/gateway.ts";

/** Starts the gateway with `env` on top of PATH and the Kong variables; stop() also removes kong.yml. */
export async function startGatewayFor(kongYml: object, env: NodeJS.ProcessEnv): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-runtime-"));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  writeFileSync(join(dir, "kong.yml"), stringify(kongYml));
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      env: {
        PATH: process.env.PATH,
        KONG_DECLARATIVE_CONFIG: join(dir, "kong.yml"),
        KONG_PROXY_LISTEN: `127.0.0.1:${await freePort()}`,
        KONG_NGINX_WORKER_PROCESSES: "1",
        ...env,
      },
    });
  } catch (error) {
    removeDir();
    throw error;
  }
  return {
    ...gateway,
    stop: async () => {
      await gateway.stop();
      removeDir();
    },
  };
}
