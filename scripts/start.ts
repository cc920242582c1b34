// `npm start`: the Azure simulator and the local gateway with examples/kong.yml,
// on fixed loopback ports, until Ctrl-C.

import { BUILD_LUA_DIR, GatewayConfigError, startGateway } from "../spec/support/runtime/gateway.ts";
import { startSimulator } from "../spec/support/simulator/index.ts";

const PROXY = "127.0.0.1:8000";

const simulator = await startSimulator({ httpPort: 9400, httpsPort: 9443 });
let gateway;
try {
  gateway = await startGateway({
    env: {
      ...process.env,
      KONG_DECLARATIVE_CONFIG: process.env.KONG_DECLARATIVE_CONFIG ?? "examples/kong.yml",
      KONG_PROXY_LISTEN: process.env.KONG_PROXY_LISTEN ?? PROXY,
      KONG_LUA_PACKAGE_PATH: `${BUILD_LUA_DIR}/?.lua;${BUILD_LUA_DIR}/?/init.lua`,
      KONG_LUA_SSL_TRUSTED_CERTIFICATE: `system,${simulator.caPath}`,
    },
  });
} catch (error) {
  await simulator.stop();
  if (error instanceof GatewayConfigError) {
    console.error(`gateway: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

const url = `${gateway.url}/openai/chat`;
console.log(`Azure simulator: ${simulator.httpUrl} (Entra on ${simulator.httpsUrl})`);
console.log(`Gateway:         ${gateway.url}   error log: ${gateway.errorLogPath}`);
console.log("");
console.log(`Send a chat request to ${url}:`);
console.log("");
console.log(
  `  curl -s ${url} -H 'Content-Type: application/json' \\\n` +
    `    -d '{"messages":[{"role":"user","content":"Hello from Kong"}]}'`,
);
console.log("");
console.log("Ctrl-C stops both.");

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) {
    return;
  }
  stopping = true;
  await gateway.stop();
  await simulator.stop();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
void gateway.exited.then(async (code) => {
  if (!stopping) {
    console.error(`gateway exited (${code ?? "signal"}); see ${gateway.errorLogPath}`);
    await simulator.stop();
    process.exit(1);
  }
});
