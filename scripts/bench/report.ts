// Figures of one benchmark run, as Markdown: printed by `npm run bench` and
// written into BENCHMARKS.md between the generated-section markers.

import { existsSync, readFileSync, writeFileSync } from "node:fs";

import type { WrkResult } from "./wrk.ts";

export const SECTION_START = "<!-- bench:generated:start -->";
export const SECTION_END = "<!-- bench:generated:end -->";

// DESIGN.md: a warm request keeps at least this share of the baseline's throughput.
export const WARM_PATH_GOAL = 0.97;


export type ConfigName = "baseline" | "plugin" | "runtime";

export const CONFIG_LABELS: Record<ConfigName, string> = {
  baseline: "(a) nginx, fixed `Authorization` header",
  plugin: "(b) local runtime + plugin, warm token",
  runtime: "(c) local runtime, no plugin (client sends the header)",
};

export interface UpstreamFigures {
  title: string;
  note: string;
  /** One result per round for each configuration. */
  rounds: Record<ConfigName, WrkResult[]>;
}

export interface StampedeFigures {
  label: string;
  /** Requests the simulator's IMDS endpoint received. */
  tokenRequests: number;
  tokensIssued: number;
  succeeded: number;
  total: number;
  /** Status codes of the answers that were not 200, with counts; 0 stands for no answer. */
  otherStatuses: Record<string, number>;
}

export interface RunFigures {
  machine: string;
  /** Load on the machine around the run, including work the benchmark did not start. */
  load: string;
  command: string;
  settings: string;
  upstreams: UpstreamFigures[];
  warmUpTokenRequests: number;
  measuredTokenRequests: number;
  stampedeSize: number;
  stampede: StampedeFigures[];
}


export function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}


function ratios(over: WrkResult[], under: WrkResult[]): number[] {
  return over.map((result, index) => result.requestsPerSecond / under[index]!.requestsPerSecond);
}


/** The median over rounds of the per-round throughput ratio over/under. */
export function medianRatio(over: WrkResult[], under: WrkResult[]): number {
  return median(ratios(over, under));
}


function fixed(value: number, digits: number): string {
  return value.toFixed(digits);
}


/** Wall time per request at saturation, in microseconds: 1 / throughput. */
function microsPerRequest(results: WrkResult[]): number {
  return 1e6 / median(results.map((result) => result.requestsPerSecond));
}


function upstreamSection(figures: UpstreamFigures): string[] {
  const { baseline, plugin, runtime } = figures.rounds;
  const lines = [
    `### ${figures.title}`,
    "",
    figures.note,
    "",
    "| configuration | req/s | p50 ms | p99 ms | rounds, req/s |",
    "| --- | ---: | ---: | ---: | --- |",
  ];
  for (const name of ["baseline", "plugin", "runtime"] as const) {
    const results = figures.rounds[name];
    lines.push(
      `| ${CONFIG_LABELS[name]} | ${fixed(median(results.map((result) => result.requestsPerSecond)), 0)} ` +
        `| ${fixed(median(results.map((result) => result.p50Ms)), 2)} ` +
        `| ${fixed(median(results.map((result) => result.p99Ms)), 2)} ` +
        `| ${results.map((result) => fixed(result.requestsPerSecond, 0)).join(", ")} |`,
    );
  }

  const warm = medianRatio(plugin, baseline);
  const verdict =
    warm >= WARM_PATH_GOAL
      ? `meets the goal of ${WARM_PATH_GOAL}`
      : `misses the goal of ${WARM_PATH_GOAL} by ${fixed((WARM_PATH_GOAL - warm) * 100, 1)} points`;
  const runtimeCost = microsPerRequest(runtime) - microsPerRequest(baseline);
  const pluginCost = microsPerRequest(plugin) - microsPerRequest(runtime);
  lines.push(
    "",
    `- **b/a = ${fixed(warm, 3)}** (median of the rounds: ${ratios(plugin, baseline).map((value) => fixed(value, 3)).join(", ")}); ${verdict}.`,
    `- c/a = ${fixed(medianRatio(runtime, baseline), 3)}: the local runtime's own Lua phases, no plugin.`,
    `- b/c = ${fixed(medianRatio(plugin, runtime), 3)}: the plugin alone, on the same runtime.`,
    `- Time per request at saturation (1 / median req/s): a ${fixed(microsPerRequest(baseline), 1)} µs, ` +
      `c ${fixed(microsPerRequest(runtime), 1)} µs, b ${fixed(microsPerRequest(plugin), 1)} µs; ` +
      `the runtime adds ${fixed(runtimeCost, 1)} µs, the plugin ${fixed(pluginCost, 1)} µs more.`,
    "",
  );
  return lines;
}


function stampedeSection(figures: RunFigures): string[] {
  const lines = [
    `### Cold-start stampede: ${figures.stampedeSize} concurrent requests, empty cache`,
    "",
    "| proxy | token requests (IMDS) | tokens issued | requests answered 200 | other answers |",
    "| --- | ---: | ---: | ---: | --- |",
  ];
  for (const entry of figures.stampede) {
    const others = Object.entries(entry.otherStatuses)
      .map(([status, count]) => `${count} × ${status === "0" ? "no answer" : status}`)
      .join(", ");
    lines.push(
      `| ${entry.label} | ${entry.tokenRequests} | ${entry.tokensIssued} | ${entry.succeeded} of ${entry.total} | ${others === "" ? "none" : others} |`,
    );
  }
  lines.push("");
  return lines;
}


export function renderFigures(figures: RunFigures): string {
  const tokenCheck =
    figures.measuredTokenRequests === 0
      ? `0 during the measured runs (${figures.warmUpTokenRequests} during the warm-up), from the simulator's journal.`
      : `**${figures.measuredTokenRequests} during the measured runs** (${figures.warmUpTokenRequests} during the warm-up): the plugin's figures include token fetches.`;
  return [
    `Machine: ${figures.machine}`,
    "",
    `Load: ${figures.load}.`,
    "",
    `Command: \`${figures.command}\` (${figures.settings})`,
    "",
    ...figures.upstreams.flatMap(upstreamSection),
    `Token requests of the plugin's gateway: ${tokenCheck}`,
    "",
    ...stampedeSection(figures),
  ].join("\n");
}


/** Replaces the generated section of the file, or appends one; the rest is left as written. */
export function writeSection(path: string, body: string, intro: string): void {
  const section = `${SECTION_START}\n${body.trimEnd()}\n${SECTION_END}`;
  const current = existsSync(path) ? readFileSync(path, "utf8") : `${intro.trimEnd()}\n\n`;
  const start = current.indexOf(SECTION_START);
  const end = current.indexOf(SECTION_END);
  const next =
    start !== -1 && end > start
      ? current.slice(0, start) + section + current.slice(end + SECTION_END.length)
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next.endsWith("\n") ? next : `${next}\n`);
}
