// Checks JSON met on the control API, in both directions: request bodies the
// simulator receives and answers the client receives. Pure code, no server.

import { isRecord } from "./http-util.ts";
import type {
  AccessTokenRequest,
  AppRegistration,
  AuthRecord,
  ConfigPatch,
  Counters,
  DeploymentConfig,
  EndpointName,
  FaultKind,
  FaultRecord,
  FaultSpec,
  FederatedTokenRequest,
  IssuedToken,
  JournalEntry,
  ManagedIdentity,
  PortKind,
  SimulatorConfig,
} from "./types.ts";
import { ENDPOINT_NAMES } from "./types.ts";


export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };


function arrayOf(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}


export function isEndpointName(value: unknown): value is EndpointName {
  return ENDPOINT_NAMES.some((name) => name === value);
}


/** Reads typed fields from one JSON object, collecting every problem it meets. */
class Fields {
  readonly problems: string[] = [];

  constructor(
    private readonly record: Record<string, unknown>,
    private readonly where: string,
  ) {}

  has(key: string): boolean {
    return this.record[key] !== undefined;
  }

  string(key: string): string {
    const value = this.record[key];
    if (typeof value !== "string") {
      this.problems.push(`${this.where}.${key} must be a string`);
      return "";
    }
    return value;
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  integer(key: string, minimum: number = Number.MIN_SAFE_INTEGER): number {
    const value = this.record[key];
    if (typeof value !== "number" || !Number.isInteger(value) || value < minimum) {
      const bound = minimum === Number.MIN_SAFE_INTEGER ? "" : ` >= ${minimum}`;
      this.problems.push(`${this.where}.${key} must be an integer${bound}`);
      return minimum === Number.MIN_SAFE_INTEGER ? 0 : minimum;
    }
    return value;
  }

  nullableInteger(key: string, minimum?: number): number | null {
    return this.isNull(key) ? null : this.integer(key, minimum);
  }

  isNull(key: string): boolean {
    return this.record[key] === null;
  }

  optionalInteger(key: string, minimum?: number): number | undefined {
    return this.has(key) ? this.integer(key, minimum) : undefined;
  }

  boolean(key: string): boolean {
    const value = this.record[key];
    if (typeof value !== "boolean") {
      this.problems.push(`${this.where}.${key} must be a boolean`);
      return false;
    }
    return value;
  }

  optionalTrue(key: string): true | undefined {
    if (!this.has(key)) {
      return undefined;
    }
    if (this.record[key] !== true) {
      this.problems.push(`${this.where}.${key} may only be true`);
    }
    return true;
  }

  endpoint(key: string): EndpointName {
    const value = this.record[key];
    if (!isEndpointName(value)) {
      this.problems.push(`${this.where}.${key} must be one of ${ENDPOINT_NAMES.join(", ")}`);
      return "unmatched";
    }
    return value;
  }

  list<T>(key: string, read: (item: Fields) => T): T[] {
    const items = arrayOf(this.record[key]);
    if (items === undefined) {
      this.problems.push(`${this.where}.${key} must be an array`);
      return [];
    }
    return items.map((item, index) => this.nested(`${key}[${index}]`, item, read));
  }

  strings(key: string): string[] {
    const items = arrayOf(this.record[key]);
    if (items === undefined || !items.every((item) => typeof item === "string")) {
      this.problems.push(`${this.where}.${key} must be an array of strings`);
      return [];
    }
    return items.map(String);
  }

  object<T>(key: string, read: (item: Fields) => T): T {
    return this.nested(key, this.record[key], read);
  }

  /** Every key must be one of `allowed`: catches typos in test setup. */
  only(allowed: readonly string[]): void {
    for (const key of Object.keys(this.record)) {
      if (!allowed.includes(key)) {
        this.problems.push(`${this.where}.${key} is not a known field`);
      }
    }
  }

  entries(): [string, unknown][] {
    return Object.entries(this.record);
  }

  nested<T>(key: string, value: unknown, read: (item: Fields) => T): T {
    const fields = new Fields(isRecord(value) ? value : {}, `${this.where}.${key}`);
    if (!isRecord(value)) {
      fields.problems.push(`${this.where}.${key} must be an object`);
    }
    const result = read(fields);
    this.problems.push(...fields.problems);
    return result;
  }
}


function decode<T>(value: unknown, where: string, read: (fields: Fields) => T): Decoded<T> {
  if (!isRecord(value)) {
    return { ok: false, error: `${where} must be a JSON object` };
  }
  const fields = new Fields(value, where);
  const result = read(fields);
  return fields.problems.length === 0
    ? { ok: true, value: result }
    : { ok: false, error: fields.problems.join("; ") };
}


function readIdentity(fields: Fields): ManagedIdentity {
  const kind = fields.string("kind");
  if (kind !== "system" && kind !== "user") {
    fields.problems.push("identity kind must be system or user");
  }
  return {
    kind: kind === "system" ? "system" : "user",
    clientId: fields.string("clientId"),
    objectId: fields.string("objectId"),
    resourceId: fields.string("resourceId"),
  };
}


function readApp(fields: Fields): AppRegistration {
  const app: AppRegistration = {
    tenantId: fields.string("tenantId"),
    clientId: fields.string("clientId"),
    objectId: fields.string("objectId"),
  };
  const secret = fields.optionalString("clientSecret");
  if (secret !== undefined) {
    app.clientSecret = secret;
  }
  if (fields.has("federatedSubjects")) {
    app.federatedSubjects = fields.strings("federatedSubjects");
  }
  return app;
}


function readDeployments(fields: Fields): Record<string, DeploymentConfig> {
  const deployments: Record<string, DeploymentConfig> = {};
  for (const [name, value] of fields.entries()) {
    deployments[name] = fields.nested(name, value, (deployment) => ({ model: deployment.string("model") }));
  }
  return deployments;
}


type ConfigReaders = {
  [K in keyof SimulatorConfig]: (fields: Fields, key: K) => SimulatorConfig[K];
};

const CONFIG_READERS: ConfigReaders = {
  tokenLifetimeSeconds: (fields, key) => fields.integer(key, 1),
  refreshInSeconds: (fields, key) => fields.nullableInteger(key, 0),
  streamChunkDelayMs: (fields, key) => fields.integer(key, 0),
  streamChunks: (fields, key) => fields.integer(key, 1),
  embeddingDimensions: (fields, key) => fields.integer(key, 1),
  apiKey: (fields, key) => fields.string(key),
  audience: (fields, key) => fields.string(key),
  tenantId: (fields, key) => fields.string(key),
  tenants: (fields, key) => fields.strings(key),
  identities: (fields, key) => fields.list(key, readIdentity),
  apps: (fields, key) => fields.list(key, readApp),
  identityHeader: (fields, key) => fields.string(key),
  mlSecret: (fields, key) => fields.string(key),
  arcKeyDirectory: (fields, key) => fields.string(key),
  arcKeyFileMode: (fields, key) => fields.integer(key, 0),
  oidcIssuer: (fields, key) => fields.string(key),
  deployments: (fields, key) => fields.object(key, readDeployments),
};

export const CONFIG_KEYS: readonly (keyof SimulatorConfig)[] = [
  "tokenLifetimeSeconds",
  "refreshInSeconds",
  "streamChunkDelayMs",
  "streamChunks",
  "embeddingDimensions",
  "apiKey",
  "audience",
  "tenantId",
  "tenants",
  "identities",
  "apps",
  "identityHeader",
  "mlSecret",
  "arcKeyDirectory",
  "arcKeyFileMode",
  "oidcIssuer",
  "deployments",
];


function readConfigField<K extends keyof SimulatorConfig>(fields: Fields, key: K): SimulatorConfig[K] {
  return CONFIG_READERS[key](fields, key);
}


function copyConfigField<K extends keyof SimulatorConfig>(patch: ConfigPatch, fields: Fields, key: K): void {
  patch[key] = readConfigField(fields, key);
}


/** A partial config, as sent to POST /_sim/config; unknown keys are refused. */
export function decodeConfigPatch(value: unknown): Decoded<ConfigPatch> {
  return decode(value, "config", (fields) => {
    fields.only(CONFIG_KEYS);
    const patch: ConfigPatch = {};
    for (const key of CONFIG_KEYS) {
      if (fields.has(key)) {
        copyConfigField(patch, fields, key);
      }
    }
    return patch;
  });
}


export function decodeConfig(value: unknown): Decoded<SimulatorConfig> {
  return decode(value, "config", (fields) => {
    const read = <K extends keyof SimulatorConfig>(key: K): SimulatorConfig[K] => readConfigField(fields, key);
    return {
      tokenLifetimeSeconds: read("tokenLifetimeSeconds"),
      refreshInSeconds: read("refreshInSeconds"),
      streamChunkDelayMs: read("streamChunkDelayMs"),
      streamChunks: read("streamChunks"),
      embeddingDimensions: read("embeddingDimensions"),
      apiKey: read("apiKey"),
      audience: read("audience"),
      tenantId: read("tenantId"),
      tenants: read("tenants"),
      identities: read("identities"),
      apps: read("apps"),
      identityHeader: read("identityHeader"),
      mlSecret: read("mlSecret"),
      arcKeyDirectory: read("arcKeyDirectory"),
      arcKeyFileMode: read("arcKeyFileMode"),
      oidcIssuer: read("oidcIssuer"),
      deployments: read("deployments"),
    };
  });
}


const FAULT_KEYS = [
  "endpoint", "status", "retryAfter", "retryAfterMs", "delayMs", "malformed", "drop", "count", "durationMs",
];


function readFaultSpec(fields: Fields): FaultSpec {
  const spec: FaultSpec = { endpoint: fields.endpoint("endpoint") };
  const status = fields.optionalInteger("status", 100);
  if (status !== undefined) spec.status = status;
  const retryAfter = fields.optionalInteger("retryAfter", 0);
  if (retryAfter !== undefined) spec.retryAfter = retryAfter;
  const retryAfterMs = fields.optionalInteger("retryAfterMs", 0);
  if (retryAfterMs !== undefined) spec.retryAfterMs = retryAfterMs;
  const delayMs = fields.optionalInteger("delayMs", 0);
  if (delayMs !== undefined) spec.delayMs = delayMs;
  const malformed = fields.optionalTrue("malformed");
  if (malformed !== undefined) spec.malformed = malformed;
  const drop = fields.optionalTrue("drop");
  if (drop !== undefined) spec.drop = drop;
  const count = fields.optionalInteger("count", 1);
  if (count !== undefined) spec.count = count;
  const durationMs = fields.optionalInteger("durationMs", 0);
  if (durationMs !== undefined) spec.durationMs = durationMs;
  return spec;
}


export function decodeFaultSpec(value: unknown): Decoded<FaultSpec> {
  return decode(value, "fault", (fields) => {
    fields.only(FAULT_KEYS);
    return readFaultSpec(fields);
  });
}


function readFaultRecord(fields: Fields): FaultRecord {
  const record: FaultRecord = { ...readFaultSpec(fields), id: fields.integer("id"), applied: fields.integer("applied") };
  const expiresAt = fields.optionalInteger("expiresAt");
  if (expiresAt !== undefined) record.expiresAt = expiresAt;
  return record;
}


export function decodeFaultRecord(value: unknown): Decoded<FaultRecord> {
  return decode(value, "fault", readFaultRecord);
}


export function decodeFaultList(value: unknown): Decoded<FaultRecord[]> {
  return decode(value, "answer", (fields) => fields.list("faults", readFaultRecord));
}


export function decodeFederatedTokenRequest(value: unknown): Decoded<FederatedTokenRequest> {
  return decode(value, "request", (fields) => {
    fields.only(["clientId", "tenantId", "lifetimeSeconds", "subject", "audience"]);
    const request: FederatedTokenRequest = {
      clientId: fields.string("clientId"),
      tenantId: fields.string("tenantId"),
    };
    const lifetimeSeconds = fields.optionalInteger("lifetimeSeconds");
    if (lifetimeSeconds !== undefined) request.lifetimeSeconds = lifetimeSeconds;
    const subject = fields.optionalString("subject");
    if (subject !== undefined) request.subject = subject;
    const audience = fields.optionalString("audience");
    if (audience !== undefined) request.audience = audience;
    return request;
  });
}


export function decodeAccessTokenRequest(value: unknown): Decoded<AccessTokenRequest> {
  return decode(value, "request", (fields) => {
    fields.only(["audience", "tenantId", "oid", "appid", "lifetimeSeconds"]);
    const request: AccessTokenRequest = {};
    const audience = fields.optionalString("audience");
    if (audience !== undefined) request.audience = audience;
    const tenantId = fields.optionalString("tenantId");
    if (tenantId !== undefined) request.tenantId = tenantId;
    const oid = fields.optionalString("oid");
    if (oid !== undefined) request.oid = oid;
    const appid = fields.optionalString("appid");
    if (appid !== undefined) request.appid = appid;
    const lifetimeSeconds = fields.optionalInteger("lifetimeSeconds");
    if (lifetimeSeconds !== undefined) request.lifetimeSeconds = lifetimeSeconds;
    return request;
  });
}


export function decodeIssuedToken(value: unknown): Decoded<IssuedToken> {
  return decode(value, "token", (fields) => ({
    token: fields.string("token"),
    expiresOn: fields.integer("expiresOn"),
  }));
}


function readCountsByEndpoint(fields: Fields): Record<EndpointName, number> {
  const counts = emptyCounts();
  for (const name of ENDPOINT_NAMES) {
    counts[name] = fields.integer(name, 0);
  }
  return counts;
}


export function emptyCounts(): Record<EndpointName, number> {
  return {
    imds: 0, appservice: 0, arc: 0, cloudshell: 0, ml: 0, entra: 0, jwks: 0, openai: 0, unmatched: 0,
  };
}


export function decodeCounters(value: unknown): Decoded<Counters> {
  return decode(value, "counters", (fields) => ({
    requests: fields.object("requests", readCountsByEndpoint),
    tokensIssued: fields.object("tokensIssued", readCountsByEndpoint),
  }));
}


function readStringMap(fields: Fields): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [key] of fields.entries()) {
    map[key] = fields.string(key);
  }
  return map;
}


function readAuth(fields: Fields): AuthRecord {
  const kind = fields.string("kind");
  const auth: AuthRecord = {
    kind: kind === "bearer" || kind === "api-key" ? kind : "none",
    accepted: fields.boolean("accepted"),
  };
  if (kind !== auth.kind) {
    fields.problems.push("auth kind must be bearer, api-key or none");
  }
  const reason = fields.optionalString("reason");
  if (reason !== undefined) auth.reason = reason;
  const oid = fields.optionalString("oid");
  if (oid !== undefined) auth.oid = oid;
  const appid = fields.optionalString("appid");
  if (appid !== undefined) auth.appid = appid;
  return auth;
}


const FAULT_KINDS: readonly FaultKind[] = ["status", "malformed", "drop", "delay"];
const PORT_KINDS: readonly PortKind[] = ["http", "https"];


function readJournalEntry(fields: Fields): JournalEntry {
  const port = PORT_KINDS.find((candidate) => candidate === fields.string("port"));
  if (port === undefined) {
    fields.problems.push("journal entry port must be http or https");
  }
  const entry: JournalEntry = {
    seq: fields.integer("seq", 1),
    time: fields.string("time"),
    endpoint: fields.endpoint("endpoint"),
    port: port ?? "http",
    method: fields.string("method"),
    path: fields.string("path"),
    query: fields.object("query", readStringMap),
    headers: fields.object("headers", readStringMap),
    body: fields.string("body"),
    status: fields.integer("status", 0),
  };
  if (fields.has("fault")) {
    const fault = FAULT_KINDS.find((candidate) => candidate === fields.string("fault"));
    if (fault === undefined) {
      fields.problems.push("journal entry fault is not a known kind");
    } else {
      entry.fault = fault;
    }
  }
  if (fields.has("auth")) {
    entry.auth = fields.object("auth", readAuth);
  }
  return entry;
}


export function decodeJournal(value: unknown): Decoded<JournalEntry[]> {
  return decode(value, "journal", (fields) => fields.list("entries", readJournalEntry));
}
