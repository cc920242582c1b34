// Types shared by the simulator, its in-process handle and the HTTP control client.
// This file holds no code that runs, so a test in another process can import it
// without starting anything.


export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

export interface JsonObject {
  [key: string]: JsonValue;
}


/** Every name a journal entry, a counter or a fault can carry. */
export const ENDPOINT_NAMES = [
  "imds",
  "appservice",
  "arc",
  "cloudshell",
  "ml",
  "entra",
  "jwks",
  "openai",
  "unmatched",
] as const;

export type EndpointName = (typeof ENDPOINT_NAMES)[number];

export type PortKind = "http" | "https";


export interface ManagedIdentity {
  kind: "system" | "user";
  clientId: string;
  objectId: string;
  /** ARM resource id; for the system-assigned identity, the resource it belongs to. */
  resourceId: string;
}

export interface AppRegistration {
  tenantId: string;
  clientId: string;
  /** Object id of the app's service principal: the `oid` of its tokens. */
  objectId: string;
  /** Accepted `client_secret`; none means the app has no secret. */
  clientSecret?: string;
  /** Accepted `sub` values of federated assertions (workload identity). */
  federatedSubjects?: string[];
}

export interface DeploymentConfig {
  /** The `model` that Azure OpenAI reports for this deployment. */
  model: string;
}

export interface SimulatorConfig {
  /** Lifetime of every access token issued; `expires_in` is one second less. */
  tokenLifetimeSeconds: number;
  /** When set, Entra responses carry `refresh_in` with this value. */
  refreshInSeconds: number | null;
  streamChunkDelayMs: number;
  /** Number of content chunks in a streamed answer. */
  streamChunks: number;
  embeddingDimensions: number;
  /** Accepted `api-key` on the Azure OpenAI data plane. */
  apiKey: string;
  /** `aud` the Azure OpenAI data plane requires in a bearer token. */
  audience: string;
  /** Tenant of the host's managed identities. */
  tenantId: string;
  /** Tenants the Entra token endpoint knows, in addition to those of `apps`. */
  tenants: string[];
  identities: ManagedIdentity[];
  apps: AppRegistration[];
  /** Value the App Service endpoint expects in `X-IDENTITY-HEADER`. */
  identityHeader: string;
  /** Value the Machine Learning endpoint expects in the `secret` header. */
  mlSecret: string;
  /**
   * Where Azure Arc's challenge writes its key files; "" for `arc-tokens` in the
   * simulator's temporary directory (readable by its own user only).
   */
  arcKeyDirectory: string;
  /** File mode of those key files; 0o600 by default, as the Arc agent's. */
  arcKeyFileMode: number;
  /** `iss` of federated assertions minted by the simulated cluster. */
  oidcIssuer: string;
  deployments: Record<string, DeploymentConfig>;
}

export type ConfigPatch = Partial<SimulatorConfig>;


export interface AuthRecord {
  kind: "bearer" | "api-key" | "none";
  accepted: boolean;
  /** Why the credential was refused. */
  reason?: string;
  /** The token's claims: proven when accepted, only claimed when refused. */
  oid?: string;
  appid?: string;
}

export type FaultKind = "status" | "malformed" | "drop" | "delay";

export interface JournalEntry {
  seq: number;
  /** ISO 8601 time the request arrived. */
  time: string;
  endpoint: EndpointName;
  port: PortKind;
  method: string;
  path: string;
  /** Query parameters; a repeated name keeps its first value. */
  query: Record<string, string>;
  /** Request headers, names lowercased, repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Status sent, or 0 when the connection was dropped without an answer. */
  status: number;
  /** Set when a fault shaped this answer. */
  fault?: FaultKind;
  /** Set on Azure OpenAI requests only. */
  auth?: AuthRecord;
}

export interface JournalFilter {
  endpoint?: EndpointName;
}

export interface Counters {
  requests: Record<EndpointName, number>;
  tokensIssued: Record<EndpointName, number>;
}


export interface FaultSpec {
  endpoint: EndpointName;
  /** Answer this status with an error body shaped like the endpoint's own. */
  status?: number;
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number;
  /** Milliseconds, sent as `retry-after-ms` and `x-ms-retry-after-ms`. */
  retryAfterMs?: number;
  /** Wait this long before answering (or before dropping). */
  delayMs?: number;
  /** Answer 200 with a truncated, unparseable JSON body. */
  malformed?: true;
  /** Destroy the connection without answering. */
  drop?: true;
  /** Apply to this many requests; 1 when neither count nor durationMs is given. */
  count?: number;
  /** Apply to every request for this many milliseconds from now. */
  durationMs?: number;
}

export interface FaultRecord extends FaultSpec {
  id: number;
  /** Requests this fault has shaped so far. */
  applied: number;
  /** Epoch milliseconds after which the fault no longer applies, if windowed. */
  expiresAt?: number;
}


export interface FederatedTokenRequest {
  clientId: string;
  tenantId: string;
  lifetimeSeconds?: number;
  /** Defaults to the app's first federated subject. */
  subject?: string;
  /** Defaults to `api://AzureADTokenExchange`. */
  audience?: string;
}

export interface AccessTokenRequest {
  /** Defaults to the configured data-plane audience. */
  audience?: string;
  tenantId?: string;
  oid?: string;
  appid?: string;
  /** May be negative, to make a token that has already expired. */
  lifetimeSeconds?: number;
}

export interface IssuedToken {
  token: string;
  /** Epoch seconds. */
  expiresOn: number;
}


/** Operations of the control API, in process. The HTTP client offers the same, async. */
export interface SimulatorControl {
  journal(filter?: JournalFilter): JournalEntry[];
  clearJournal(): void;
  counters(): Counters;
  addFault(fault: FaultSpec): FaultRecord;
  faults(): FaultRecord[];
  clearFaults(): void;
  config(): SimulatorConfig;
  updateConfig(patch: ConfigPatch): SimulatorConfig;
  federatedToken(request: FederatedTokenRequest): IssuedToken;
  accessToken(request: AccessTokenRequest): IssuedToken;
  /** Journal, counters, faults and config back to how the simulator started. */
  reset(): void;
}

export type AsyncSimulatorControl = {
  [K in keyof SimulatorControl]: (
    ...args: Parameters<SimulatorControl[K]>
  ) => Promise<ReturnType<SimulatorControl[K]>>;
};

export interface SimulatorInfo {
  httpUrl: string;
  httpsUrl: string;
  caPath: string;
  controlUrl: string;
}
