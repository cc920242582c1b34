// The local runtime's launcher: turns Kong's environment variables and a
// declarative kong.yml into an nginx prefix, checks it the way `kong start`
// would, and runs nginx with the plugin loaded. For development and tests
// only; production runs Kong.

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { isRecord } from "../simulator/http-util.ts";
import { waitFor } from "../wait.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, "../../..");
export const BUILD_LUA_DIR = join(REPO_ROOT, "build/lua");
const RUNTIME_LUA_DIR = join(HERE, "lua");
const TEMPLATE = join(HERE, "nginx.conf.template");
const MODULE_DIRS = ["/usr/lib/nginx/modules", "/usr/share/nginx/modules"];
const LUA_MODULES = ["ndk_http_module.so", "ngx_http_lua_module.so"];
const SYSTEM_CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];
const LOG_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"];
const UNSUPPORTED_LISTEN_FLAGS = ["ssl", "http2", "proxy_protocol"];
const ALLOWED_LISTEN_FLAG = /^(reuseport|deferred|bind|backlog=\d+)$/;

/** A configuration the runtime refuses, as `kong start` would: the message says why. */
export class GatewayConfigError extends Error {}

export interface GatewayOptions {
  /** Kong's variables (KONG_*) and anything the plugin reads (AZURE_*); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where nginx runs; a new temporary folder when absent (removed on stop). */
  prefix?: string;
  /**
   * Append each request's serialized log (kong.log.serialize) as one JSON
   * line to logs/file-log.json in the prefix, as Kong's file-log plugin does.
   */
  fileLog?: boolean;
}

export interface Gateway {
  /** Base URL of the first proxy listener, e.g. http://127.0.0.1:8000 */
  url: string;
  prefix: string;
  errorLogPath: string;
  errorLog(): string;
  /** logs/file-log.json when started with fileLog, else undefined. */
  fileLogPath: string | undefined;
  /** nginx -s reload, then wait until the new workers answer. */
  reload(): Promise<void>;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

interface Listener {
  host: string;
  port: number;
  flags: string[];
}

interface Settings {
  declarativeConfig: string;
  listeners: Listener[];
  workerProcesses: string;
  logLevel: string;
  trustedCertificates: string[];
  verifyDepth: number;
  luaPackagePath: string;
  plugins: string[];
  dnsResolver: string;
  dnsHostsfile: string;
  clientBodyBufferSize: string;
}

function fail(message: string): never {
  throw new GatewayConfigError(message);
}

function parseListen(value: string): Listener[] {
  if (value.trim() === "off") {
    fail("KONG_PROXY_LISTEN=off: the local runtime needs a proxy listener");
  }
  return value.split(",").map((entry) => {
    const [address, ...flags] = entry.trim().split(/\s+/);
    const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address ?? "");
    if (match === null) {
      fail(`KONG_PROXY_LISTEN: '${entry.trim()}' is not host:port`);
    }
    for (const flag of flags) {
      if (UNSUPPORTED_LISTEN_FLAGS.includes(flag)) {
        fail(`KONG_PROXY_LISTEN: the '${flag}' flag is not supported by the local runtime`);
      }
      if (!ALLOWED_LISTEN_FLAG.test(flag)) {
        fail(`KONG_PROXY_LISTEN: unknown flag '${flag}'`);
      }
    }
    return { host: match[1]!, port: Number(match[2]), flags };
  });
}

function trustedCertificates(value: string): string[] {
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      if (entry === "system") {
        const bundle = SYSTEM_CA_BUNDLES.find((path) => existsSync(path));
        return bundle ?? fail("KONG_LUA_SSL_TRUSTED_CERTIFICATE: no system CA bundle found (install ca-certificates)");
      }
      if (!existsSync(entry)) {
        fail(`KONG_LUA_SSL_TRUSTED_CERTIFICATE: ${entry} does not exist`);
      }
      return entry;
    });
}

/** An nginx size (1024, 8k, 1m), from Kong's variable for the directive. */
function sizeSetting(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name] ?? fallback;
  if (!/^\d+[kKmM]?$/.test(value)) {
    fail(`${name}: '${value}' is not a size such as 8k or 1m`);
  }
  return value;
}

function settingsFrom(env: NodeJS.ProcessEnv): Settings {
  const declarativeConfig = env.KONG_DECLARATIVE_CONFIG ?? fail("KONG_DECLARATIVE_CONFIG is not set: name a kong.yml");
  const logLevel = (env.KONG_LOG_LEVEL ?? "notice").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    fail(`KONG_LOG_LEVEL: '${logLevel}' is not one of ${LOG_LEVELS.join(", ")}`);
  }
  const workerProcesses = env.KONG_NGINX_WORKER_PROCESSES ?? "auto";
  if (!/^(auto|[1-9]\d*)$/.test(workerProcesses)) {
    fail(`KONG_NGINX_WORKER_PROCESSES: '${workerProcesses}' is not 'auto' or a positive number`);
  }
  const plugins = (env.KONG_PLUGINS ?? "bundled,ai-proxy-azure")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "" && name !== "bundled");
  return {
    declarativeConfig: resolve(declarativeConfig),
    listeners: parseListen(env.KONG_PROXY_LISTEN ?? "127.0.0.1:8000"),
    workerProcesses,
    logLevel,
    trustedCertificates: trustedCertificates(env.KONG_LUA_SSL_TRUSTED_CERTIFICATE ?? "system"),
    verifyDepth: Number(env.KONG_LUA_SSL_VERIFY_DEPTH ?? "1"),
    luaPackagePath: env.KONG_LUA_PACKAGE_PATH ?? "",
    plugins,
    dnsResolver: env.KONG_DNS_RESOLVER ?? "",
    dnsHostsfile: env.KONG_DNS_HOSTSFILE ?? "/etc/hosts",
    clientBodyBufferSize: sizeSetting(env, "KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE", "8k"),
  };
}

function loadModuleDirectives(): string {
  return LUA_MODULES.map((module) => {
    const dir = MODULE_DIRS.find((candidate) => existsSync(join(candidate, module)));
    if (dir === undefined) {
      fail(`nginx module ${module} not found: install Debian's libnginx-mod-http-lua`);
    }
    return `load_module ${join(dir, module)};`;
  }).join("\n");
}

function readDeclarative(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    fail(`failed to read the declarative configuration ${path}: ${(error as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (error) {
    fail(`failed to parse the declarative configuration ${path}: ${(error as Error).message}`);
  }
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * The proxy directives for a Service's tls_verify: Kong sets verification per
 * request, nginx here per location, so it is on for every service or none
 * (declarative.lua refuses a mix, or tls_verify without a CA certificate).
 */
function upstreamTlsDirectives(doc: unknown, prefix: string): string {
  const services = isRecord(doc) ? listOf(doc.services).filter(isRecord) : [];
  const verified = services.filter((service) => service.tls_verify === true);
  const ids = new Set(verified.flatMap((service) => listOf(service.ca_certificates)));
  const certificates = isRecord(doc) ? listOf(doc.ca_certificates).filter(isRecord) : [];
  const pems = certificates.filter((ca) => ids.has(ca.id) && typeof ca.cert === "string").map((ca) => String(ca.cert));
  if (verified.length === 0 || pems.length === 0) {
    return "";
  }
  const file = join(prefix, "ssl/upstream-ca.pem");
  writeFileSync(file, pems.join("\n"));
  const depth = verified[0].tls_verify_depth;
  return [
    "proxy_ssl_verify on;",
    `proxy_ssl_trusted_certificate ${file};`,
    ...(typeof depth === "number" ? [`proxy_ssl_verify_depth ${depth};`] : []),
  ].join("\n            ");
}

function luaLongString(text: string): string {
  let level = "=";
  while (text.includes(`]${level}]`)) {
    level += "=";
  }
  return `[${level}[${text}]${level}]`;
}

function render(settings: Settings, prefix: string, fileLogPath: string | undefined): string {
  const trusted = join(prefix, "ssl/trusted.pem");
  writeFileSync(trusted, settings.trustedCertificates.map((path) => readFileSync(path, "utf8")).join("\n"));

  const declarative = readDeclarative(settings.declarativeConfig);
  writeFileSync(join(prefix, "kong.json"), JSON.stringify(declarative));
  const runtimeOptions = {
    config_file: join(prefix, "kong.json"),
    error_file: join(prefix, "logs/startup-error.txt"),
    plugins: settings.plugins,
    dns: { resolver: settings.dnsResolver, hostsfile: settings.dnsHostsfile },
    ...(fileLogPath === undefined ? {} : { file_log: fileLogPath }),
  };

  const packagePath = [settings.luaPackagePath, `${RUNTIME_LUA_DIR}/?.lua`, `${RUNTIME_LUA_DIR}/?/init.lua`]
    .filter((part) => part !== "")
    .join(";");
  const listen = settings.listeners
    .map((listener) => `        listen ${listener.host}:${listener.port} ${listener.flags.join(" ")};`)
    .join("\n");

  const values: Record<string, string> = {
    load_modules: loadModuleDirectives(),
    worker_processes: settings.workerProcesses,
    // Debian builds nginx --with-debug, Kong's OpenResty is built without it:
    // at "debug" Kong logs its own and the plugins' debug lines, not nginx's
    // dumps of every request (which hold Authorization headers). debug_core
    // keeps that: Lua's DEBUG lines pass, the http module's dumps do not.
    log_level: settings.logLevel === "debug" ? "debug_core" : settings.logLevel,
    lua_package_path: packagePath,
    lua_ssl_trusted_certificate: trusted,
    lua_ssl_verify_depth: String(settings.verifyDepth),
    runtime_options: `require("cjson.safe").decode(${luaLongString(JSON.stringify(runtimeOptions))})`,
    listen_directives: listen,
    client_body_buffer_size: settings.clientBodyBufferSize,
    upstream_tls: upstreamTlsDirectives(declarative, prefix),
  };
  return readFileSync(TEMPLATE, "utf8").replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) {
      throw new Error(`nginx template names an unknown value: ${name}`);
    }
    return value;
  });
}

function startupError(prefix: string, nginxOutput: string): string {
  const file = join(prefix, "logs/startup-error.txt");
  if (existsSync(file)) {
    return readFileSync(file, "utf8");
  }
  const lines = nginxOutput.split("\n").filter((line) => /\[(emerg|alert|crit|error)\]/.test(line));
  return lines.length > 0 ? lines.join("\n") : nginxOutput.trim();
}

/** Writes the nginx prefix: configuration, trusted certificates, the declarative config as JSON. */
function prepareGateway(options: GatewayOptions = {}): { prefix: string; settings: Settings; fileLogPath: string | undefined } {
  const settings = settingsFrom(options.env ?? process.env);
  const prefix = options.prefix ?? mkdtempSync(join(tmpdir(), "ai-proxy-azure-gateway-"));
  // Workers of a root master run as nginx's unprivileged user and must read the prefix.
  chmodSync(prefix, 0o755);
  for (const dir of ["logs", "conf", "ssl"]) {
    mkdirSync(join(prefix, dir), { recursive: true, mode: 0o755 });
  }
  rmSync(join(prefix, "logs/startup-error.txt"), { force: true });
  const fileLogPath = options.fileLog === true ? join(prefix, "logs/file-log.json") : undefined;
  if (fileLogPath !== undefined) {
    // Made here, writable by all: workers of a root master run unprivileged.
    writeFileSync(fileLogPath, "");
    chmodSync(fileLogPath, 0o666);
  }
  writeFileSync(join(prefix, "conf/nginx.conf"), render(settings, prefix, fileLogPath));

  return { prefix, settings, fileLogPath };
}

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** True once a worker answers HTTP on the listener (any status will do). */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const request = httpRequest(
      { host: host.replace(/^\[|\]$/g, ""), port, path: "/", method: "GET", timeout: 1_000, agent: false },
      (response) => {
        response.resume();
        resolveAnswer(true);
      },
    );
    request.once("error", () => resolveAnswer(false));
    request.once("timeout", () => request.destroy());
    request.end();
  });
}

function workerPids(prefix: string): string[] {
  const master = readFileSync(join(prefix, "logs/nginx.pid"), "utf8").trim();
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] === master;
      } catch {
        return false;
      }
    });
}

export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const { prefix, settings, fileLogPath } = prepareGateway(options);
  const listener = settings.listeners[0]!;
  const errorLogPath = join(prefix, "logs/error.log");

  const child: ChildProcess = spawn("nginx", ["-p", prefix, "-e", join(prefix, "logs/error.log"), "-c", "conf/nginx.conf", "-g", "daemon off;"], {
    env: options.env ?? process.env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let nginxStderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    nginxStderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  let running = true;
  void exited.then(() => {
    running = false;
  });

  try {
    await waitFor(async () => {
      if (!running) {
        const log = existsSync(errorLogPath) ? readFileSync(errorLogPath, "utf8") : "";
        throw new GatewayConfigError(startupError(prefix, `${nginxStderr}${log}`));
      }
      return answers(listener.host, listener.port);
    }, `the gateway on ${listener.host}:${listener.port}`);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    if (options.prefix === undefined) {
      rmSync(prefix, { recursive: true, force: true });
    }
    throw error;
  }

  const stop = async (): Promise<void> => {
    if (running) {
      child.kill("SIGQUIT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (options.prefix === undefined) {
      rmSync(prefix, { recursive: true, force: true });
    }
  };

  return {
    url: `http://${listener.host}:${listener.port}`,
    prefix,
    errorLogPath,
    errorLog: () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, "utf8") : ""),
    fileLogPath,
    reload: async () => {
      const before = new Set(workerPids(prefix));
      child.kill("SIGHUP");
      const expected = settings.workerProcesses === "auto" ? availableParallelism() : Number(settings.workerProcesses);
      await waitFor(
        () => workerPids(prefix).filter((pid) => !before.has(pid)).length >= expected,
        "new workers after reload",
      );
      // Old workers close their idle connections and exit; until then a
      // client may still send on a connection one of them is closing.
      await waitFor(() => workerPids(prefix).every((pid) => !before.has(pid)), "old workers to exit after reload");
    },
    stop,
    exited,
  };
}
