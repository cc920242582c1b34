// A typed client for the simulator's control API, for tests that talk to a simulator
// running in another process. It offers the in-process operations, async.

import type {
  AccessTokenRequest,
  AsyncSimulatorControl,
  ConfigPatch,
  Counters,
  FaultRecord,
  FaultSpec,
  FederatedTokenRequest,
  IssuedToken,
  JournalEntry,
  JournalFilter,
  SimulatorConfig,
} from "./types.ts";
import { parseJson } from "./http-util.ts";
import {
  decodeConfig,
  decodeCounters,
  decodeFaultList,
  decodeFaultRecord,
  decodeIssuedToken,
  decodeJournal,
  type Decoded,
} from "./wire.ts";


export class SimulatorClient implements AsyncSimulatorControl {
  /** @param controlUrl the `controlUrl` the simulator printed, e.g. `http://127.0.0.1:PORT/_sim` */
  constructor(private readonly controlUrl: string) {}

  async journal(filter: JournalFilter = {}): Promise<JournalEntry[]> {
    const query = filter.endpoint === undefined ? "" : `?endpoint=${encodeURIComponent(filter.endpoint)}`;
    return this.call("GET", `journal${query}`, undefined, decodeJournal);
  }

  async clearJournal(): Promise<void> {
    await this.send("DELETE", "journal");
  }

  async counters(): Promise<Counters> {
    return this.call("GET", "counters", undefined, decodeCounters);
  }

  async addFault(fault: FaultSpec): Promise<FaultRecord> {
    return this.call("POST", "faults", fault, decodeFaultRecord);
  }

  async faults(): Promise<FaultRecord[]> {
    return this.call("GET", "faults", undefined, decodeFaultList);
  }

  async clearFaults(): Promise<void> {
    await this.send("DELETE", "faults");
  }

  async config(): Promise<SimulatorConfig> {
    return this.call("GET", "config", undefined, decodeConfig);
  }

  async updateConfig(patch: ConfigPatch): Promise<SimulatorConfig> {
    return this.call("POST", "config", patch, decodeConfig);
  }

  async federatedToken(request: FederatedTokenRequest): Promise<IssuedToken> {
    return this.call("POST", "federated-token", request, decodeIssuedToken);
  }

  async accessToken(request: AccessTokenRequest): Promise<IssuedToken> {
    return this.call("POST", "access-token", request, decodeIssuedToken);
  }

  async reset(): Promise<void> {
    await this.send("POST", "reset");
  }

  private async call<T>(
    method: string,
    operation: string,
    body: object | undefined,
    decode: (value: unknown) => Decoded<T>,
  ): Promise<T> {
    const parsed = parseJson(await this.send(method, operation, body));
    if (!parsed.ok) {
      throw new Error(`simulator control ${method} ${operation} answered with non-JSON`);
    }
    const decoded = decode(parsed.value);
    if (!decoded.ok) {
      throw new Error(`simulator control ${method} ${operation} answered unexpectedly: ${decoded.error}`);
    }
    return decoded.value;
  }

  private async send(method: string, operation: string, body?: object): Promise<string> {
    const response = await fetch(`${this.controlUrl}/${operation}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`simulator control ${method} ${operation} failed with ${response.status}: ${text}`);
    }
    return text;
  }
}
