// The simulator's state and request dispatch, shared by its HTTP and HTTPS servers.
// Each request goes to the first endpoint that claims its path; a queued fault may
// shape the answer instead; the outcome is journaled, then written.

import type { IncomingMessage, ServerResponse } from "node:http";

import { TOKEN_EXCHANGE_AUDIENCE } from "./constants.ts";
import type { EndpointContext, EndpointDefinition } from "./endpoint.ts";
import { FaultStore } from "./faults.ts";
import {
  firstValues,
  flattenHeaders,
  jsonResponse,
  readBody,
  sleep,
  type SimRequest,
  type SimResponse,
} from "./http-util.ts";
import { Journal } from "./journal.ts";
import { createEndpoints } from "./registry.ts";
import { TokenService, type TokenKeys } from "./tokens.ts";
import type {
  AccessTokenRequest,
  ConfigPatch,
  Counters,
  EndpointName,
  FaultKind,
  FaultRecord,
  FaultSpec,
  FederatedTokenRequest,
  IssuedToken,
  JournalEntry,
  JournalFilter,
  PortKind,
  SimulatorConfig,
  SimulatorControl,
} from "./types.ts";
import { CONFIG_KEYS, decodeConfigPatch } from "./wire.ts";


const DEFAULT_FEDERATED_LIFETIME_SECONDS = 3600;
const FALLBACK_SUBJECT = "system:serviceaccount:default:default";


function applyField<K extends keyof SimulatorConfig>(
  config: SimulatorConfig,
  patch: ConfigPatch,
  key: K,
): void {
  const value = patch[key];
  if (value !== undefined) {
    config[key] = value;
  }
}


/** Checks a patch (typed callers can still pass out-of-range numbers) and applies it. */
export function patchedConfig(base: SimulatorConfig, patch: ConfigPatch): SimulatorConfig {
  const checked = decodeConfigPatch(structuredClone(patch));
  if (!checked.ok) {
    throw new RangeError(checked.error);
  }
  const config = structuredClone(base);
  for (const key of CONFIG_KEYS) {
    applyField(config, checked.value, key);
  }
  return config;
}


function retryHeaders(fault: FaultRecord): Record<string, string> {
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) {
    headers["retry-after"] = String(fault.retryAfter);
  }
  if (fault.retryAfterMs !== undefined) {
    headers["retry-after-ms"] = String(fault.retryAfterMs);
    headers["x-ms-retry-after-ms"] = String(fault.retryAfterMs);
  }
  return headers;
}


async function writeAnswer(response: ServerResponse, answer: SimResponse): Promise<void> {
  response.writeHead(answer.status, answer.headers);
  if (answer.stream === undefined) {
    response.end(answer.body ?? "");
    return;
  }
  response.flushHeaders();
  try {
    for await (const piece of answer.stream) {
      if (response.destroyed) {
        return;
      }
      response.write(piece);
    }
    response.end();
  } catch {
    // The simulator is stopping: cut the stream rather than end it cleanly.
    response.destroy();
  }
}


export class SimulatorCore implements SimulatorControl {
  readonly tokens: TokenService;
  private currentConfig: SimulatorConfig;
  private readonly journalStore = new Journal();
  private readonly faultStore = new FaultStore();
  private readonly endpoints: EndpointDefinition[] = createEndpoints();
  private readonly stopping = new AbortController();

  constructor(
    private readonly initialConfig: SimulatorConfig,
    keys: TokenKeys,
    private readonly tempDir: string,
  ) {
    this.currentConfig = structuredClone(initialConfig);
    this.tokens = new TokenService(keys, () => this.currentConfig);
  }

  journal(filter?: JournalFilter): JournalEntry[] {
    return this.journalStore.list(filter);
  }

  clearJournal(): void {
    this.journalStore.clearEntries();
  }

  counters(): Counters {
    return this.journalStore.counters();
  }

  addFault(fault: FaultSpec): FaultRecord {
    return this.faultStore.add(fault);
  }

  faults(): FaultRecord[] {
    return this.faultStore.list();
  }

  clearFaults(): void {
    this.faultStore.clear();
  }

  config(): SimulatorConfig {
    return structuredClone(this.currentConfig);
  }

  updateConfig(patch: ConfigPatch): SimulatorConfig {
    this.currentConfig = patchedConfig(this.currentConfig, patch);
    return this.config();
  }

  federatedToken(request: FederatedTokenRequest): IssuedToken {
    const app = this.currentConfig.apps.find(
      (candidate) =>
        candidate.clientId.toLowerCase() === request.clientId.toLowerCase() &&
        candidate.tenantId.toLowerCase() === request.tenantId.toLowerCase(),
    );
    return this.tokens.issueFederatedToken({
      subject: request.subject ?? app?.federatedSubjects?.[0] ?? FALLBACK_SUBJECT,
      audience: request.audience ?? TOKEN_EXCHANGE_AUDIENCE,
      lifetimeSeconds: request.lifetimeSeconds ?? DEFAULT_FEDERATED_LIFETIME_SECONDS,
    });
  }

  accessToken(request: AccessTokenRequest): IssuedToken {
    const config = this.currentConfig;
    const identity = config.identities.find((candidate) => candidate.kind === "system") ?? config.identities[0];
    const issued = this.tokens.issueAccessToken({
      tenantId: request.tenantId ?? config.tenantId,
      audience: request.audience ?? config.audience,
      oid: request.oid ?? identity?.objectId ?? "",
      appid: request.appid ?? identity?.clientId ?? "",
      lifetimeSeconds: request.lifetimeSeconds,
    });
    return { token: issued.token, expiresOn: issued.expiresOn };
  }

  reset(): void {
    this.journalStore.clearAll();
    this.faultStore.clear();
    this.currentConfig = structuredClone(this.initialConfig);
    for (const endpoint of this.endpoints) {
      endpoint.reset?.();
    }
  }

  /** Ends delays and streams in flight; the servers close the sockets. */
  stop(): void {
    this.stopping.abort();
  }

  async serve(port: PortKind, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const arrived = new Date();
    const seq = this.journalStore.nextSeq();
    const url = new URL(request.url ?? "/", "http://simulator.invalid");
    let body: string;
    try {
      body = await readBody(request);
    } catch {
      response.destroy();
      return;
    }
    const simRequest: SimRequest = {
      method: request.method ?? "GET",
      path: url.pathname,
      query: firstValues(url.searchParams),
      params: url.searchParams,
      headers: flattenHeaders(request.headers),
      body,
    };
    const endpoint = this.endpoints.find(
      (candidate) => candidate.ports.includes(port) && candidate.matches(url.pathname),
    );
    const name: EndpointName = endpoint?.name ?? "unmatched";
    this.journalStore.countRequest(name);
    const record = (status: number, fault?: FaultKind, answer?: SimResponse): void => {
      const entry: JournalEntry = {
        seq,
        time: arrived.toISOString(),
        endpoint: name,
        port,
        method: simRequest.method,
        path: simRequest.path,
        query: simRequest.query,
        headers: simRequest.headers,
        body,
        status,
      };
      if (fault !== undefined) {
        entry.fault = fault;
      }
      if (answer?.auth !== undefined) {
        entry.auth = answer.auth;
      }
      this.journalStore.record(entry);
    };

    if (endpoint === undefined) {
      const answer = jsonResponse(404, { error: `no simulated endpoint serves ${simRequest.path} on ${port}` });
      record(answer.status);
      await writeAnswer(response, answer);
      return;
    }

    const fault = this.faultStore.take(name);
    if (fault?.delayMs !== undefined) {
      try {
        await sleep(fault.delayMs, this.stopping.signal);
      } catch {
        response.destroy();
        return;
      }
    }
    if (fault?.drop === true) {
      record(0, "drop");
      request.socket.destroy();
      return;
    }

    let answer: SimResponse;
    let faultKind: FaultKind | undefined;
    if (fault?.status !== undefined) {
      answer = endpoint.errorResponse(fault.status, `Simulated fault: status ${fault.status}.`);
      faultKind = "status";
    } else if (fault?.malformed === true) {
      answer = { status: 200, headers: { "content-type": "application/json" }, body: endpoint.malformedBody };
      faultKind = "malformed";
    } else {
      answer = await this.answer(endpoint, simRequest, port);
      faultKind = fault === undefined ? undefined : "delay";
    }
    if (fault !== undefined) {
      answer = { ...answer, headers: { ...answer.headers, ...retryHeaders(fault) } };
    }
    record(answer.status, faultKind, answer);
    await writeAnswer(response, answer);
  }

  private async answer(endpoint: EndpointDefinition, request: SimRequest, port: PortKind): Promise<SimResponse> {
    const context: EndpointContext = {
      config: this.currentConfig,
      tokens: this.tokens,
      issueAccessToken: (claims) => {
        this.journalStore.countToken(endpoint.name);
        return this.tokens.issueAccessToken(claims);
      },
      tempDir: this.tempDir,
      signal: this.stopping.signal,
      port,
    };
    try {
      return await endpoint.handle(request, context);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      process.stderr.write(`simulator: ${endpoint.name} handler failed: ${detail}\n`);
      return endpoint.errorResponse(500, "The simulator failed to handle this request.");
    }
  }
}
