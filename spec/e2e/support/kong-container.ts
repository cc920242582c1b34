// The `kong` target: the plugin installed by luarocks into the official Kong
// image (the repo's Dockerfile), DB-less, started with testcontainers. Loaded
// only when E2E_TARGET=kong, so machines without Docker never import it.

import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import { GenericContainer, TestContainers, Wait, type StartedTestContainer } from "testcontainers";
import { waitFor } from "../../support/wait.ts";
import { parseJsonLines, type GatewayHandle, type GatewayStart } from "./targets.ts";

const DEFAULT_KONG_IMAGE = "kong:3.9";
const CA_PATH = "/e2e-files/trusted-ca.pem";
// Kong's file-log, enabled globally, writes each request's serialized log here.
const FILE_LOG_PATH = "/tmp/file-log.json";
// Kong's error log, in a file rather than on stderr: a line nginx wrote before
// it answered is then there when the answer arrives, as on the local target.
const ERROR_LOG_PATH = "/tmp/kong-error.log";

// The worker processes' pids, by the title nginx gives them: old workers that
// are still finishing after a reload are titled "... is shutting down".
const LIST_WORKERS =
  'for f in /proc/[0-9]*/cmdline; do t=$(tr "\\0" " " < "$f" 2>/dev/null); ' +
  'case "$t" in "nginx: worker process"*) p=${f#/proc/}; echo "${p%/cmdline}";; esac; done';

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
      KONG_PROXY_ERROR_LOG: ERROR_LOG_PATH,
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

  const workerPids = async (): Promise<string[]> => {
    const result = await container.exec(["sh", "-c", LIST_WORKERS]);
    return result.output.split("\n").filter((pid) => /^\d+$/.test(pid));
  };

  return {
    url: `http://${container.getHost()}:${container.getMappedPort(8000)}`,
    errorLog: async () => {
      const result = await container.exec(["cat", ERROR_LOG_PATH]);
      return result.exitCode === 0 ? result.output : "";
    },
    serializedLogs: async () => {
      const result = await container.exec(["cat", FILE_LOG_PATH]);
      // Before the first request the file does not exist yet.
      return result.exitCode === 0 ? parseJsonLines(result.output) : [];
    },
    reload: async () => {
      const before = new Set(await workerPids());
      const result = await container.exec(["kong", "reload"]);
      if (result.exitCode !== 0) {
        throw new Error(`kong reload failed: ${result.output}`);
      }
      const expected = options.workers ?? 2;
      // New workers first; then the old ones close their idle connections and
      // exit, and until they have a client may send on a connection being closed.
      await waitFor(
        async () => (await workerPids()).filter((pid) => !before.has(pid)).length >= expected,
        "new workers after kong reload",
        30_000,
      );
      await waitFor(
        async () => (await workerPids()).every((pid) => !before.has(pid)),
        "old workers to exit after kong reload",
        30_000,
      );
    },
    stop: async () => {
      await container.stop();
    },
  };
}
