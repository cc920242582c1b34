// `npm run bench`: the plugin's warm path against nginx setting a fixed
// header, and a cold-start stampede against a Node proxy built on
// @azure/identity, side by side in one run on this machine. Everything listens
// on 127.0.0.1; every load is bounded in time or count. BENCHMARKS.md explains
// the figures; this script rewrites its generated section.
//
// BENCH_ROUNDS, BENCH_SECONDS and BENCH_STAMPEDE change the defaults below.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";

import { BUILD_LUA_DIR, freePort, REPO_ROOT, startGateway, type Gateway } from "../spec/support/runtime/gateway.ts";
import { SIM_DOCUMENTED_DEPLOYMENT, startSimulator, type Simulator } from "../spec/support/simulator/index.ts";
import { cannedUpstreamConfig, fixedHeaderConfig, startNginx, type NginxInstance } from "./bench/nginx.ts";
import {
  renderFigures,
  writeSection,
  type ConfigName,
  type RunFigures,
  type StampedeFigures,
  type UpstreamFigures,
} from "./bench/report.ts";
import { runWrk, type WrkResult } from "./bench/wrk.ts";


const ROUNDS = positive("BENCH_ROUNDS", 3);
const SECONDS = positive("BENCH_SECONDS", 6);
const STAMPEDE = positive("BENCH_STAMPEDE", 200);
const WARM_UP_SECONDS = 1;
const WORKERS = 2;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 32;
const BURST_TIMEOUT_MS = 30_000;

const API_VERSION = "2023-05-15";
const DEPLOYMENT_PATH = `/openai/deployments/${SIM_DOCUMENTED_DEPLOYMENT}/chat/completions`;
// Every configuration gets the same request: path, query and body.
const CLIENT_QUERY = `?api-version=${API_VERSION}`;
const CHAT_BODY = JSON.stringify({ messages: [{ role: "user", content: "Hello from Kong" }] });
const JSON_HEADERS = { "Content-Type": "application/json" };
const CANNED_COMPLETION = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-35-turbo",
  choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: "Hello from the canned upstream" } }],
  usage: { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 },
});

const BENCHMARKS_MD = join(REPO_ROOT, "BENCHMARKS.md");

// Route paths: one per upstream, the same in every configuration. Routes do
// not strip their path: the runtime without the plugin sends the client's path
// on, so the client asks for the deployment's own path.
const SIM_ROUTE = DEPLOYMENT_PATH;
const FAST_ROUTE = "/fast";


function positive(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") {
    return fallback;
  }
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new Error(`${name} must be a positive whole number, not '${value}'`);
  }
  return number;
}


/** What a command prints, stdout and stderr together (nginx -v and wrk -v use stderr). */
function printed(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8" });
  return `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
}


/** The 1-minute load average: other work on the machine skews every figure. */
function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ")[0] ?? "unknown";
}


function machineLine(): string {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
  const nginx = /nginx\/\S+/.exec(printed("nginx", ["-v"]))?.[0] ?? "nginx (unknown version)";
  const wrk = /^wrk (\S+)/m.exec(printed("wrk", ["-v"]))?.[1] ?? "(unknown version)";
  return (
    `${cpu}, ${availableParallelism()} cores; ${nginx}; wrk ${wrk}; ` +
    `Node ${process.version}; ${new Date().toISOString()}`
  );
}


interface Stack {
  sim: Simulator;
  fast: NginxInstance;
  baseline: NginxInstance;
  runtime: Gateway;
  plugin: Gateway;
}


function simAddress(sim: Simulator): string {
  return new URL(sim.httpUrl).host;
}


function pluginConfig(upstreamUrl: string): Record<string, unknown> {
  return {
    route_type: "llm/v1/chat",
    auth: { azure_use_managed_identity: true },
    model: {
      provider: "azure",
      name: "gpt-35-turbo",
      options: {
        azure_instance: "my-openai-instance",
        azure_deployment_id: SIM_DOCUMENTED_DEPLOYMENT,
        upstream_url: upstreamUrl,
      },
    },
  };
}


/** kong.yml with one route per upstream; with the plugin on each, or with no plugin at all. */
function kongYml(sim: Simulator, fast: NginxInstance, withPlugin: boolean): object {
  const upstreams = [
    { name: "simulator", path: SIM_ROUTE, base: sim.httpUrl },
    { name: "fast", path: FAST_ROUTE, base: fast.url },
  ];
  return {
    _format_version: "3.0",
    services: upstreams.map((upstream) => ({
      name: upstream.name,
      // With the plugin, upstream_url decides where requests go, as in the e2e scenarios.
      url: withPlugin ? "http://127.0.0.1:9" : upstream.base,
      routes: [
        {
          name: upstream.name,
          paths: [upstream.path],
          strip_path: false,
          ...(withPlugin
            ? { plugins: [{ name: "ai-proxy-azure", config: pluginConfig(`${upstream.base}${DEPLOYMENT_PATH}`) }] }
            : {}),
        },
      ],
    })),
  };
}


async function startRuntime(dir: string, name: string, config: object, sim: Simulator): Promise<Gateway> {
  const kongYmlPath = join(dir, `${name}.kong.yml`);
  writeFileSync(kongYmlPath, stringify(config));
  const port = await freePort();
  return startGateway({
    env: {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      KONG_DECLARATIVE_CONFIG: kongYmlPath,
      KONG_PROXY_LISTEN: `127.0.0.1:${port} reuseport`,
      KONG_NGINX_WORKER_PROCESSES: String(WORKERS),
      KONG_LOG_LEVEL: "notice",
      KONG_LUA_PACKAGE_PATH: `${BUILD_LUA_DIR}/?.lua;${BUILD_LUA_DIR}/?/init.lua`,
      KONG_LUA_SSL_TRUSTED_CERTIFICATE: `system,${sim.caPath}`,
      AZURE_POD_IDENTITY_AUTHORITY_HOST: sim.httpUrl,
    },
  });
}


async function post(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...JSON_HEADERS, ...headers },
      body: CHAT_BODY,
      signal: AbortSignal.timeout(BURST_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}


/** One burst of `size` requests sent at once: a count, not a throughput. */
async function stampede(label: string, url: string, sim: Simulator, size: number): Promise<StampedeFigures> {
  const statuses = await Promise.all(Array.from({ length: size }, () => post(url)));
  // A fetch the burst started in the background gets a moment to land.
  await new Promise((next) => setTimeout(next, 1_000));
  const counters = sim.control.counters();
  const otherStatuses: Record<string, number> = {};
  for (const status of statuses.filter((value) => value !== 200)) {
    otherStatuses[String(status)] = (otherStatuses[String(status)] ?? 0) + 1;
  }
  return {
    label,
    tokenRequests: counters.requests.imds,
    tokensIssued: counters.tokensIssued.imds,
    succeeded: statuses.filter((status) => status === 200).length,
    total: size,
    otherStatuses,
  };
}


async function pluginStampede(dir: string, sim: Simulator, fast: NginxInstance): Promise<StampedeFigures> {
  sim.control.reset();
  const gateway = await startRuntime(dir, "stampede", kongYml(sim, fast, true), sim);
  try {
    return await stampede(`plugin, fresh gateway (${WORKERS} workers)`, `${gateway.url}${SIM_ROUTE}${CLIENT_QUERY}`, sim, STAMPEDE);
  } finally {
    await gateway.stop();
  }
}


async function identityProxyStampede(sim: Simulator): Promise<StampedeFigures> {
  sim.control.reset();
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts/bench/identity-proxy.ts")], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      AZURE_POD_IDENTITY_AUTHORITY_HOST: sim.httpUrl,
      BENCH_UPSTREAM_URL: `${sim.httpUrl}${DEPLOYMENT_PATH}${CLIENT_QUERY}`,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the identity proxy did not start within 20 s")), 20_000);
      void exited.then(() => reject(new Error("the identity proxy exited before listening")));
      createInterface({ input: child.stdout! }).once("line", (line) => {
        clearTimeout(timer);
        const announced: unknown = JSON.parse(line);
        if (typeof announced === "object" && announced !== null && "url" in announced && typeof announced.url === "string") {
          resolve(announced.url);
        } else {
          reject(new Error(`the identity proxy announced no URL: ${line}`));
        }
      });
    });
    return await stampede("Node proxy on @azure/identity ManagedIdentityCredential", `${url}${SIM_ROUTE}${CLIENT_QUERY}`, sim, STAMPEDE);
  } finally {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}


interface Target {
  config: ConfigName;
  url: string;
  headers: Record<string, string>;
}


function targets(stack: Stack, route: string, bearer: string): Target[] {
  return [
    { config: "baseline", url: `${stack.baseline.url}${route}${CLIENT_QUERY}`, headers: JSON_HEADERS },
    { config: "plugin", url: `${stack.plugin.url}${route}${CLIENT_QUERY}`, headers: JSON_HEADERS },
    {
      config: "runtime",
      url: `${stack.runtime.url}${route}${CLIENT_QUERY}`,
      headers: { ...JSON_HEADERS, Authorization: `Bearer ${bearer}` },
    },
  ];
}


/** IMDS requests the journal holds; the journal is then emptied, so it does not grow under load. */
function takeTokenRequests(sim: Simulator): number {
  const seen = sim.control.journal({ endpoint: "imds" }).length;
  sim.control.clearJournal();
  return seen;
}


async function load(dir: string, target: Target, name: string, seconds: number): Promise<WrkResult> {
  const result = await runWrk({
    dir,
    name,
    url: target.url,
    body: CHAT_BODY,
    headers: target.headers,
    seconds,
    connections: WRK_CONNECTIONS,
    threads: WRK_THREADS,
  });
  if (result.failures > 0) {
    throw new Error(`${name}: ${result.failures} of ${result.requests} requests failed; the figures would not mean anything`);
  }
  return result;
}


async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-bench-"));
  const stops: (() => Promise<void>)[] = [];
  try {
    const machine = machineLine();
    const loadBefore = loadAverage();
    const sim = await startSimulator();
    stops.push(() => sim.stop());
    const fastPort = await freePort();
    // One worker: the same fixed upstream capacity for every configuration.
    const fast = await startNginx(join(dir, "fast"), fastPort, cannedUpstreamConfig(fastPort, 1, CANNED_COMPLETION));
    stops.push(() => fast.stop());

    console.log(`stampede: ${STAMPEDE} concurrent requests against an empty cache`);
    const stampedeFigures = [await pluginStampede(dir, sim, fast), await identityProxyStampede(sim)];

    sim.control.reset();
    const bearer = sim.control.accessToken({}).token;
    const baselinePort = await freePort();
    const baseline = await startNginx(
      join(dir, "baseline"),
      baselinePort,
      fixedHeaderConfig(baselinePort, WORKERS, [
        { path: SIM_ROUTE, upstream: simAddress(sim), upstreamPath: DEPLOYMENT_PATH, authorization: `Bearer ${bearer}` },
        { path: FAST_ROUTE, upstream: new URL(fast.url).host, upstreamPath: DEPLOYMENT_PATH, authorization: `Bearer ${bearer}` },
      ]),
    );
    stops.push(() => baseline.stop());
    const runtime = await startRuntime(dir, "runtime", kongYml(sim, fast, false), sim);
    stops.push(() => runtime.stop());
    const plugin = await startRuntime(dir, "plugin", kongYml(sim, fast, true), sim);
    stops.push(() => plugin.stop());
    const stack: Stack = { sim, fast, baseline, runtime, plugin };

    const routes = [
      {
        route: SIM_ROUTE,
        title: "Warm path, simulator as upstream",
        note:
          "The Node simulator checks the RS256 signature of every bearer token on one thread and limits all " +
          "three configurations. It shares this machine's cores with the gateway and wrk, so CPU the gateway " +
          "spends is taken from the simulator: the gateway's cost still shows here, less than in front of a fast upstream.",
      },
      {
        route: FAST_ROUTE,
        title: "Warm path, fast upstream (nginx answering a canned completion)",
        note:
          "The same three configurations in front of an nginx `return 200` with a canned chat completion " +
          "(one worker): the gateway is the bottleneck, so this ratio shows the plugin's own cost.",
      },
    ];

    console.log("warm-up: a few requests, then a short load on every configuration");
    for (const { route } of routes) {
      for (const target of targets(stack, route, bearer)) {
        for (let attempt = 0; attempt < 5; attempt += 1) {
          const status = await post(target.url, target.headers);
          if (status !== 200) {
            throw new Error(`warm-up: ${target.config} on ${route} answered ${status}`);
          }
        }
        await load(dir, target, `warm-up-${target.config}`, WARM_UP_SECONDS);
        takeTokenRequests(sim);
      }
    }
    const warmUpTokenRequests = sim.control.counters().requests.imds;
    let measuredTokenRequests = 0;

    const figures: UpstreamFigures[] = routes.map(({ title, note }) => ({
      title,
      note,
      rounds: { baseline: [], plugin: [], runtime: [] },
    }));
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [index, { route }] of routes.entries()) {
        const all = targets(stack, route, bearer);
        // Each round starts with another configuration, so drift spreads over all three.
        const ordered = [...all.slice(round % all.length), ...all.slice(0, round % all.length)];
        for (const target of ordered) {
          const result = await load(dir, target, `${target.config}-${index}-${round}`, SECONDS);
          measuredTokenRequests += takeTokenRequests(sim);
          figures[index]!.rounds[target.config].push(result);
          console.log(
            `round ${round + 1}/${ROUNDS} ${route} ${target.config}: ${result.requestsPerSecond.toFixed(0)} req/s, ` +
              `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`,
          );
        }
      }
    }

    const run: RunFigures = {
      machine,
      load: `1-minute load average ${loadBefore} at the start, ${loadAverage()} at the end`,
      command: "npm run bench",
      settings:
        `${ROUNDS} rounds of ${SECONDS} s per configuration and upstream, alternating; wrk ${WRK_THREADS} threads, ` +
        `${WRK_CONNECTIONS} connections; ${WORKERS} nginx workers per gateway; stampede of ${STAMPEDE}`,
      upstreams: figures,
      warmUpTokenRequests,
      measuredTokenRequests,
      stampedeSize: STAMPEDE,
      stampede: stampedeFigures,
    };
    const markdown = renderFigures(run);
    console.log(`\n${markdown}`);
    writeSection(BENCHMARKS_MD, markdown, "# Benchmarks");
    console.log(`written to ${BENCHMARKS_MD}`);
    if (measuredTokenRequests > 0) {
      console.error(`the plugin fetched ${measuredTokenRequests} tokens during the measured runs`);
      process.exitCode = 1;
    }
  } finally {
    for (const stop of stops.reverse()) {
      await stop();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}


await main();
