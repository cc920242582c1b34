// The `kong` target: the plugin installed by luarocks into the official Kong
// image (the repo's Dockerfile), DB-less, started with testcontainers. Loaded
// only when E2E_TARGET=kong, so machines without Docker never import it.

import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import { GenericContainer, TestContainers, Wait, type StartedTestContainer } from "testcontainers";
import { parseJsonLines, type GatewayHandle, type GatewayStart } from "./targets.ts";

const DEFAULT_KONG_IMAGE = "kong:3.9";
const CA_PATH = "/e2e-files/trusted-ca.pem";
// Kong's file-log, enabled globally, writes each request's serialized log here.
const FILE_LOG_PATH = "/tmp/file-log.json";

function withFileLog(kongYml: object): object {
  const existing = "plugins" in kongYml && Array.isArray(kongYml.plugins) ? kongYml.plugins : [];
  return { ...kongYml, plugins: [...existing, { name: "file-log", config: { path: FILE_LOG_PATH } }] };
}

let image: Promise<GenericContainer> | undefined;

function buildImage(context: string): Promise<GenericContainer> {
  image ??= GenericContainer.fromDockerfile(context)
    .withBuildArgs({ KONG_IMAGE: process.env.KONG_IMAGE ?? DEFAULT_KONG_IMAGE })
    .build("kong-plugin-ai-proxy-azure:e2e", { deleteOnExit: false });
  return image;
}

export async function startKongContainer(
  context: string,
  options: GatewayStart,
  pathFor: (hostPath: string) => string,
): Promise<GatewayHandle> {
  const built = await buildImage(context);
  if (options.hostPorts !== undefined && options.hostPorts.length > 0) {
    await TestContainers.exposeHostPorts(...options.hostPorts);
  }

  const trusted = (options.trustedCertificates ?? []).map((path) => readFileSync(path, "utf8")).join("\n");
  const files = Object.keys(options.files ?? {}).map((source) => ({ source, target: pathFor(source), mode: 0o644 }));

  const container: StartedTestContainer = await built
    .withEnvironment({
      KONG_DATABASE: "off",
      KONG_DECLARATIVE_CONFIG: "/e2e-files/kong.yml",
      KONG_PROXY_LISTEN: "0.0.0.0:8000",
      KONG_ADMIN_LISTEN: "off",
      KONG_PLUGINS: "bundled,ai-proxy-azure",
      KONG_NGINX_WORKER_PROCESSES: String(options.workers ?? 2),
      KONG_LOG_LEVEL: options.logLevel ?? "info",
      KONG_LUA_SSL_TRUSTED_CERTIFICATE: trusted === "" ? "system" : `system,${CA_PATH}`,
      ...options.env,
    })
    .withCopyContentToContainer([
      { content: stringify(withFileLog(options.kongYml)), target: "/e2e-files/kong.yml", mode: 0o644 },
      ...(trusted === "" ? [] : [{ content: trusted, target: CA_PATH, mode: 0o644 }]),
    ])
    .withCopyFilesToContainer(files)
    .withExposedPorts(8000)
    .withWaitStrategy(Wait.forHttp("/", 8000).forStatusCode(404))
    .start();

  let log = "";
  (await container.logs()).on("data", (chunk: Buffer | string) => {
    log += chunk.toString();
  });

  return {
    url: `http://${container.getHost()}:${container.getMappedPort(8000)}`,
    errorLog: async () => log,
    serializedLogs: async () => {
      const result = await container.exec(["cat", FILE_LOG_PATH]);
      // Before the first request the file does not exist yet.
      return result.exitCode === 0 ? parseJsonLines(result.output) : [];
    },
    reload: async () => {
      const result = await container.exec(["kong", "reload"]);
      if (result.exitCode !== 0) {
        throw new Error(`kong reload failed: ${result.output}`);
      }
      await new Promise((settle) => setTimeout(settle, 2_000));
    },
    stop: async () => {
      await container.stop();
    },
  };
}
