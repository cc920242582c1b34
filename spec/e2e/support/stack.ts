// One scenario's world: the Azure simulator and a gateway in front of it,
// started before the scenario's tests and stopped after them.
//
//   const stack = useStack(() => ({ plugin: chatPlugin(stack, { auth: {...} }) }));
//   it("...", async () => { const response = await stack.post("/openai/chat", {...}); });

import { after, before } from "node:test";
import { startSimulator, type Simulator } from "../../support/simulator/index.ts";
import { currentTarget, type GatewayHandle, type GatewayStart, type Target } from "./targets.ts";

export type PluginConfig = Record<string, unknown>;

export interface StackOptions {
  /** The ai-proxy-azure config block. */
  plugin: PluginConfig;
  /** The route's path; default /openai. */
  path?: string;
  env?: Record<string, string>;
  workers?: number;
  /** Fields added to the Service, e.g. tls_verify and ca_certificates. */
  service?: Record<string, unknown>;
  /** kong.yml's top-level ca_certificates. */
  caCertificates?: Record<string, unknown>[];
  logLevel?: GatewayStart["logLevel"];
  files?: Record<string, string>;
}

export interface Stack {
  readonly target: Target;
  readonly sim: Simulator;
  readonly gateway: GatewayHandle;
  /** The simulator's plain-HTTP base URL as the gateway reaches it. */
  readonly simHttpUrl: string;
  /** The simulator's HTTPS base URL (Entra) as the gateway reaches it. */
  readonly simHttpsUrl: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Starts another gateway with other options, replacing the current one. */
  restart(options: StackOptions): Promise<void>;
}

function kongYml(options: StackOptions): object {
  return {
    _format_version: "3.0",
    ...(options.caCertificates === undefined ? {} : { ca_certificates: options.caCertificates }),
    services: [
      {
        name: "azure-openai",
        url: "http://127.0.0.1:9",
        ...options.service,
        routes: [
          {
            name: "openai",
            paths: [options.path ?? "/openai"],
            plugins: [{ name: "ai-proxy-azure", config: options.plugin }],
          },
        ],
      },
    ],
  };
}

/**
 * Registers before/after hooks that start the simulator and a gateway; the
 * options are computed once the simulator is up, so they can name its URLs.
 */
export function useStack(options: (stack: Stack) => StackOptions): Stack {
  const target = currentTarget();
  let sim: Simulator | undefined;
  let gateway: GatewayHandle | undefined;

  const required = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) {
      throw new Error(`${what} is not started yet`);
    }
    return value;
  };

  const startGateway = async (stackOptions: StackOptions): Promise<GatewayHandle> => {
    const running = required(sim, "the simulator");
    return target.start({
      kongYml: kongYml(stackOptions),
      env: stackOptions.env,
      workers: stackOptions.workers,
      logLevel: stackOptions.logLevel,
      files: stackOptions.files,
      trustedCertificates: [running.caPath],
      hostPorts: [new URL(running.httpUrl).port, new URL(running.httpsUrl).port].map(Number),
    });
  };

  const stack: Stack = {
    target,
    get sim() {
      return required(sim, "the simulator");
    },
    get gateway() {
      return required(gateway, "the gateway");
    },
    get simHttpUrl() {
      return target.reach(required(sim, "the simulator").httpUrl);
    },
    get simHttpsUrl() {
      return target.reach(required(sim, "the simulator").httpsUrl);
    },
    post: (path, body, headers = {}) =>
      fetch(`${stack.gateway.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    restart: async (stackOptions) => {
      await gateway?.stop();
      gateway = undefined;
      gateway = await startGateway(stackOptions);
    },
  };

  before(async () => {
    sim = await startSimulator({ certificateHosts: target.hostNames });
    gateway = await startGateway(options(stack));
  });

  after(async () => {
    await gateway?.stop();
    await sim?.stop();
  });

  return stack;
}
