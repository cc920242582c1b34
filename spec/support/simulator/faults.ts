// Faults queued by tests: each applies to its endpoint's next N requests, or to all
// of them for a window of time, whichever ends first.

import type { EndpointName, FaultRecord, FaultSpec } from "./types.ts";


export class FaultStore {
  private records: FaultRecord[] = [];
  private nextId = 1;

  add(spec: FaultSpec): FaultRecord {
    const problem = faultProblem(spec);
    if (problem !== undefined) {
      throw new RangeError(problem);
    }
    const count = spec.count ?? (spec.durationMs === undefined ? 1 : undefined);
    const record: FaultRecord = { ...spec, id: this.nextId++, applied: 0 };
    if (count !== undefined) {
      record.count = count;
    }
    if (spec.durationMs !== undefined) {
      record.expiresAt = Date.now() + spec.durationMs;
    }
    this.records.push(record);
    return { ...record };
  }

  /** The oldest fault that still applies to `endpoint`, counted as used. */
  take(endpoint: EndpointName): FaultRecord | undefined {
    this.dropFinished();
    const record = this.records.find((candidate) => candidate.endpoint === endpoint);
    if (record === undefined) {
      return undefined;
    }
    record.applied += 1;
    const taken = { ...record };
    this.dropFinished();
    return taken;
  }

  list(): FaultRecord[] {
    this.dropFinished();
    return this.records.map((record) => ({ ...record }));
  }

  clear(): void {
    this.records = [];
  }

  private dropFinished(): void {
    const now = Date.now();
    this.records = this.records.filter(
      (record) =>
        (record.count === undefined || record.applied < record.count) &&
        (record.expiresAt === undefined || now < record.expiresAt),
    );
  }
}


function faultProblem(spec: FaultSpec): string | undefined {
  if (spec.endpoint === "unmatched") {
    return "faults apply to endpoints; requests no endpoint serves always get 404";
  }
  const effects = [spec.status !== undefined, spec.malformed === true, spec.drop === true];
  if (effects.filter(Boolean).length > 1) {
    return "a fault takes at most one of status, malformed and drop";
  }
  if (!effects.some(Boolean) && spec.delayMs === undefined) {
    return "a fault needs status, malformed, drop or delayMs";
  }
  const status = spec.status;
  if (status !== undefined && !(Number.isInteger(status) && status >= 100 && status <= 599)) {
    return "status must be an HTTP status code";
  }
  const amounts: [string, number | undefined][] = [
    ["count", spec.count],
    ["durationMs", spec.durationMs],
    ["delayMs", spec.delayMs],
    ["retryAfter", spec.retryAfter],
    ["retryAfterMs", spec.retryAfterMs],
  ];
  for (const [name, value] of amounts) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
      return `${name} must be a non-negative integer`;
    }
  }
  if (spec.count === 0) {
    return "count must be at least 1";
  }
  return undefined;
}
