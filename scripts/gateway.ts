// `npm run gateway`: the local runtime alone, configured only by Kong's
// variables, so it can be pointed at any endpoint (the simulator, or Azure).

import { GatewayConfigError, BUILD_LUA_DIR, startGateway } from "../spec/support/runtime/gateway.ts";

const env = { ...process.env };
env.KONG_DECLARATIVE_CONFIG ??= "examples/kong.yml";
env.KONG_LUA_PACKAGE_PATH ??= `${BUILD_LUA_DIR}/?.lua;${BUILD_LUA_DIR}/?/init.lua`;

try {
  const gateway = await startGateway({ env });
  console.log(`gateway listening on ${gateway.url} (config ${env.KONG_DECLARATIVE_CONFIG}, logs ${gateway.errorLogPath})`);
  const stop = (): void => {
    void gateway.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const code = await gateway.exited;
  process.exit(code ?? 1);
} catch (error) {
  if (error instanceof GatewayConfigError) {
    console.error(`gateway: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
