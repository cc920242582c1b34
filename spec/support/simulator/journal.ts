// What the simulator has seen: every request it answered (or dropped), and counts
// of requests and of tokens issued per endpoint.

import { emptyCounts } from "./wire.ts";
import type { Counters, EndpointName, JournalEntry, JournalFilter } from "./types.ts";


export class Journal {
  private entries: JournalEntry[] = [];
  private requests = emptyCounts();
  private tokensIssued = emptyCounts();
  private lastSeq = 0;

  /** Numbers a request as it arrives, so that entries sort in arrival order. */
  nextSeq(): number {
    this.lastSeq += 1;
    return this.lastSeq;
  }

  countRequest(endpoint: EndpointName): void {
    this.requests[endpoint] += 1;
  }

  countToken(endpoint: EndpointName): void {
    this.tokensIssued[endpoint] += 1;
  }

  record(entry: JournalEntry): void {
    this.entries.push(entry);
  }

  list(filter: JournalFilter = {}): JournalEntry[] {
    return this.entries
      .filter((entry) => filter.endpoint === undefined || entry.endpoint === filter.endpoint)
      .sort((left, right) => left.seq - right.seq)
      .map((entry) => structuredClone(entry));
  }

  counters(): Counters {
    return { requests: { ...this.requests }, tokensIssued: { ...this.tokensIssued } };
  }

  clearEntries(): void {
    this.entries = [];
  }

  /** Entries and counters; sequence numbers keep growing so old and new never mix. */
  clearAll(): void {
    this.entries = [];
    this.requests = emptyCounts();
    this.tokensIssued = emptyCounts();
  }
}
