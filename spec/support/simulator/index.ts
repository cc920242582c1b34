// Starts the Azure simulator: an HTTP port (identity endpoints, data plane, control
// API) and an HTTPS port (Entra, data plane) whose certificate a fresh test CA signs.

import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createTestCertificates } from "./certs.ts";
import { DEFAULT_CONFIG } from "./constants.ts";
import { CONTROL_PREFIX, serveControl } from "./control.ts";
import { patchedConfig, SimulatorCore } from "./core.ts";
import { createTokenKeys } from "./tokens.ts";
import type { ConfigPatch, PortKind, SimulatorControl, SimulatorInfo } from "./types.ts";

export * from "./constants.ts";
export * from "./types.ts";


export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  httpPort?: number;
  httpsPort?: number;
  /**
   * Names or addresses the HTTPS certificate is valid for besides localhost and
   * 127.0.0.1, such as the name under which a container reaches this host.
   */
  certificateHosts?: string[];
  /** Changes to the defaults; `reset()` returns to the defaults with these applied. */
  config?: ConfigPatch;
}

export interface Simulator extends SimulatorInfo {
  /** The control API, in process: same operations as /_sim/ on the HTTP port. */
  readonly control: SimulatorControl;
  /** Holds the test CA, server key and Azure Arc's key files; removed on stop. */
  readonly tempDir: string;
  stop(): Promise<void>;
}


const HOST = "127.0.0.1";


function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, HOST, () => {
      server.off("error", reject);
      const address: AddressInfo | string | null = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("failed to read the port the simulator listens on"));
        return;
      }
      resolve(address.port);
    });
  });
}


function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}


export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const config = patchedConfig(DEFAULT_CONFIG, options.config ?? {});
  const tempDir = await mkdtemp(join(tmpdir(), "ai-proxy-azure-sim-"));
  const servers: Server[] = [];
  let core: SimulatorCore | undefined;
  const shutDown = async (): Promise<void> => {
    core?.stop();
    await Promise.all(servers.map(close));
    await rm(tempDir, { recursive: true, force: true });
  };

  try {
    const [certificates, keys] = await Promise.all([
      createTestCertificates(tempDir, options.certificateHosts),
      createTokenKeys(),
    ]);
    const running = new SimulatorCore(config, keys, tempDir);
    core = running;
    const handler = (port: PortKind) => (request: IncomingMessage, response: ServerResponse): void => {
      const isControl = port === "http" && (request.url ?? "").startsWith(CONTROL_PREFIX);
      const work = isControl ? serveControl(running, request, response) : running.serve(port, request, response);
      work.catch((error: unknown) => {
        const detail = error instanceof Error ? error.message : String(error);
        process.stderr.write(`simulator: failed to answer ${request.method} ${request.url}: ${detail}\n`);
        response.destroy();
      });
    };

    const httpServer = createHttpServer(handler("http"));
    servers.push(httpServer);
    const httpsServer = createHttpsServer(
      { key: certificates.serverKey, cert: certificates.serverCert },
      handler("https"),
    );
    servers.push(httpsServer);
    const httpPort = await listen(httpServer, options.httpPort ?? 0);
    const httpsPort = await listen(httpsServer, options.httpsPort ?? 0);

    const httpUrl = `http://${HOST}:${httpPort}`;
    let stopped: Promise<void> | undefined;
    return {
      httpUrl,
      httpsUrl: `https://localhost:${httpsPort}`,
      caPath: certificates.caPath,
      controlUrl: `${httpUrl}${CONTROL_PREFIX.slice(0, -1)}`,
      control: running,
      tempDir,
      stop: () => {
        stopped ??= shutDown();
        return stopped;
      },
    };
  } catch (error) {
    await shutDown();
    throw error;
  }
}
