// Where an end-to-end scenario runs, chosen by E2E_TARGET:
//   local: the local runtime (nginx + lua-nginx-module from Debian's packages);
//   kong:  a Kong container built from the repo's Dockerfile, via testcontainers.
// A scenario only sees the Target interface, so one file serves both.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { BUILD_LUA_DIR, freePort, REPO_ROOT, startGateway } from "../../support/runtime/gateway.ts";
import { isRecord } from "../../support/simulator/http-util.ts";

export interface GatewayHandle {
  /** Base URL of the proxy, e.g. http://127.0.0.1:38123 */
  url: string;
  /** Everything the gateway logged so far (nginx's error log). */
  errorLog(): Promise<string>;
  /**
   * Each finished request's serialized log (what kong.log.serialize gives log
   * plugins), oldest first, as file-log writes them: the local runtime's own
   * sink, or Kong's file-log configured globally.
   */
  serializedLogs(): Promise<Record<string, unknown>[]>;
  /** Reloads the configuration the way an operator would (nginx -s reload / kong reload). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayStart {
  /** The declarative configuration, as it would be written in kong.yml. */
  kongYml: object;
  /** Environment for the gateway: AZURE_* and KONG_* variables. */
  env?: Record<string, string>;
  workers?: number;
  logLevel?: "debug" | "info" | "notice" | "warn" | "error";
  /** Files the gateway's workers must be able to read, mapped host path → path in the gateway. */
  files?: Record<string, string>;
  /** Extra CA certificates (PEM files) the gateway trusts for its own TLS calls. */
  trustedCertificates?: string[];
  /** Ports on this machine the gateway must reach (the simulator's). */
  hostPorts?: number[];
}

export interface Target {
  name: "local" | "kong";
  /** Names under which the gateway reaches this machine, for the simulator's certificate. */
  hostNames: string[];
  /** A URL of a service on this machine, as the gateway reaches it. */
  reach(url: string): string;
  /** The path under which the gateway sees a file given in GatewayStart.files. */
  pathFor(hostPath: string): string;
  start(options: GatewayStart): Promise<GatewayHandle>;
}

const localTarget: Target = {
  name: "local",
  hostNames: [],
  reach: (url) => url,
  pathFor: (hostPath) => hostPath,
  async start(options) {
    const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-e2e-"));
    const kongYml = join(dir, "kong.yml");
    writeFileSync(kongYml, stringify(options.kongYml));
    const port = await freePort();
    const gateway = await startGateway({
      fileLog: true,
      env: {
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        KONG_DECLARATIVE_CONFIG: kongYml,
        KONG_PROXY_LISTEN: `127.0.0.1:${port}`,
        KONG_NGINX_WORKER_PROCESSES: String(options.workers ?? 2),
        KONG_LOG_LEVEL: options.logLevel ?? "info",
        KONG_LUA_PACKAGE_PATH: `${BUILD_LUA_DIR}/?.lua;${BUILD_LUA_DIR}/?/init.lua`,
        KONG_LUA_SSL_TRUSTED_CERTIFICATE: ["system", ...(options.trustedCertificates ?? [])].join(","),
        ...options.env,
      },
    });
    return {
      url: gateway.url,
      errorLog: async () => gateway.errorLog(),
      serializedLogs: async () => parseJsonLines(readFileSync(gateway.fileLogPath!, "utf8")),
      reload: () => gateway.reload(),
      stop: async () => {
        await gateway.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * One JSON object per line, as file-log writes them; blank lines are skipped.
 * Each line is written with its newline in one call, so text after the last
 * newline is a line still being written, read before the rest of it landed.
 */
export function parseJsonLines(text: string): Record<string, unknown>[] {
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const entry: unknown = JSON.parse(line);
      if (!isRecord(entry)) {
        throw new Error(`a serialized log line is not a JSON object: ${line}`);
      }
      return entry;
    });
}

export function currentTarget(): Target {
  const name = process.env.E2E_TARGET ?? "local";
  if (name === "local") {
    return localTarget;
  }
  if (name === "kong") {
    return kongTarget();
  }
  throw new Error(`E2E_TARGET must be 'local' or 'kong', not '${name}'`);
}

// The Kong target loads testcontainers only when it is chosen.
const CONTAINER_HOST = "host.testcontainers.internal";
let kong: Target | undefined;
function kongTarget(): Target {
  kong ??= {
    name: "kong",
    hostNames: [CONTAINER_HOST],
    reach: (url) => url.replace(/\/\/(127\.0\.0\.1|localhost)(?=[:/])/, `//${CONTAINER_HOST}`),
    pathFor: (hostPath) => `/e2e-files/${hostPath.replace(/[^\w.-]/g, "_")}`,
    async start(options) {
      const { startKongContainer } = await import("./kong-container.ts");
      return startKongContainer(REPO_ROOT, options, (hostPath) => kong!.pathFor(hostPath));
    },
  };
  return kong;
}
