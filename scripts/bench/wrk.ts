// Runs wrk for a fixed time with a POST body and reads its summary.

import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);


export interface WrkLoad {
  /** Folder for the generated wrk script. */
  dir: string;
  name: string;
  url: string;
  body: string;
  headers: Record<string, string>;
  seconds: number;
  connections: number;
  threads: number;
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers outside 2xx/3xx, plus socket errors of any kind. */
  failures: number;
}


const UNIT_TO_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000 };


function luaString(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}


function writeScript(load: WrkLoad): string {
  const lines = ['wrk.method = "POST"', `wrk.body = ${luaString(load.body)}`];
  for (const [name, value] of Object.entries(load.headers)) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  }
  const path = join(load.dir, `${load.name}.lua`);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}


function duration(text: string, label: string): number {
  const match = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(text);
  if (match === null) {
    throw new Error(`wrk printed no ${label} latency:\n${text}`);
  }
  return Number(match[1]) * UNIT_TO_MS[match[2]!]!;
}


function count(text: string, pattern: RegExp): number {
  const match = pattern.exec(text);
  return match === null ? 0 : Number(match[1]);
}


export function parseWrk(text: string): WrkResult {
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in /m.exec(text);
  if (rate === null || total === null) {
    throw new Error(`wrk printed no summary:\n${text}`);
  }
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketFailures = socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, value) => sum + Number(value), 0);
  return {
    requestsPerSecond: Number(rate[1]),
    requests: Number(total[1]),
    p50Ms: duration(text, "50%"),
    p99Ms: duration(text, "99%"),
    failures: count(text, /Non-2xx or 3xx responses: (\d+)/) + socketFailures,
  };
}


/** One bounded wrk run: it stops by itself after load.seconds. */
export async function runWrk(load: WrkLoad): Promise<WrkResult> {
  const script = writeScript(load);
  const { stdout } = await run(
    "wrk",
    [
      "--latency",
      `--threads=${load.threads}`,
      `--connections=${load.connections}`,
      `--duration=${load.seconds}s`,
      "--timeout=5s",
      `--script=${script}`,
      load.url,
    ],
    { timeout: (load.seconds + 30) * 1_000 },
  );
  return parseWrk(stdout);
}
