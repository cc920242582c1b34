// `npm test`: every suite, one after another, then one line that counts them
// all: unit specs (busted on the built Lua), the simulator's own tests, the
// local runtime's own tests (config refusal, the rock), the
// end-to-end scenarios on the local runtime, and the same scenarios on a Kong
// container when a Docker engine is reachable.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface SuiteResult {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
}

const results: SuiteResult[] = [];

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(suffix))
    .map((file) => join(dir, file))
    .sort();
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const result = spawnSync(command, args, { stdio: "inherit", env });
  if (result.error !== undefined) {
    console.error(`failed to run ${command}: ${result.error.message}`);
    return 1;
  }
  return result.status ?? 1;
}

/** busted with the TAP output: one "ok" or "not ok" line per test. */
function busted(name: string, dir: string): void {
  const result = spawnSync("luajit", ["/usr/bin/busted", "-o", "TAP", dir], { encoding: "utf8" });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  process.stdout.write(output);
  const passed = (output.match(/^ok \d+/gm) ?? []).length;
  let failed = (output.match(/^not ok \d+/gm) ?? []).length;
  if (result.status !== 0 && failed === 0) {
    failed = 1;
  }
  results.push({ name, passed, failed, skipped: 0 });
}

/**
 * Node's test runner, with a TAP copy of the results to count from. One file
 * at a time on any machine: the scenarios start gateways with several workers,
 * and the load and timing ones expect to have the machine to themselves.
 */
function nodeTests(name: string, files: string[], env: NodeJS.ProcessEnv = process.env): void {
  if (files.length === 0) {
    console.log(`${name}: no test files`);
    results.push({ name, passed: 0, failed: 1, skipped: 0 });
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-tests-"));
  const tap = join(dir, "results.tap");
  const status = run(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-concurrency=1",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      "--test-reporter=tap",
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    env,
  );
  const report = readFileSync(tap, "utf8");
  rmSync(dir, { recursive: true, force: true });
  const count = (label: string): number => sumOf(report, label);
  const passed = count("pass");
  let failed = count("fail") + count("cancelled");
  if (status !== 0 && failed === 0) {
    failed = 1;
  }
  results.push({ name, passed, failed, skipped: count("skipped") });
}

function sumOf(report: string, label: string): number {
  const match = new RegExp(`^# ${label} (\\d+)$`, "m").exec(report);
  return match === null ? 0 : Number(match[1]);
}

/** Why the Kong target cannot run here, or undefined when it can. */
function dockerUnavailable(): string | undefined {
  const probe = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8", timeout: 15_000 });
  if (probe.error !== undefined) {
    return `the docker command is not available (${probe.error.message})`;
  }
  if (probe.status !== 0) {
    const reason = (probe.stderr ?? "").trim().split("\n").pop() ?? "";
    return `no Docker engine is reachable${reason === "" ? "" : `: ${reason}`}`;
  }
  return undefined;
}

/** The TypeScript of the tests and scripts (the plugin's is checked by the build). */
function typecheck(): void {
  const status = run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.tools.json"]);
  results.push({ name: "typecheck", passed: status === 0 ? 1 : 0, failed: status === 0 ? 0 : 1, skipped: 0 });
}

/** luacheck over the local runtime's Lua and the specs (.luacheckrc). */
function lint(): void {
  const status = run("luacheck", ["-q", "spec/support/runtime/lua", "spec/unit", "spec/fixtures"]);
  results.push({ name: "lint", passed: status === 0 ? 1 : 0, failed: status === 0 ? 0 : 1, skipped: 0 });
}

typecheck();
lint();
busted("unit", "spec/unit");
nodeTests("simulator", filesUnder("spec/simulator", ".test.ts"));
nodeTests("local runtime", filesUnder("spec/runtime", ".test.ts"));

const scenarios = filesUnder("spec/e2e", ".test.ts");
nodeTests("e2e (local)", scenarios, { ...process.env, E2E_TARGET: "local" });

const unavailable = dockerUnavailable();
if (unavailable === undefined) {
  nodeTests("e2e (kong)", scenarios, { ...process.env, E2E_TARGET: "kong" });
} else {
  console.log(`e2e (kong): skipped: ${unavailable}`);
}

console.log("");
for (const suite of results) {
  console.log(`${suite.name}: ${suite.passed} passed, ${suite.failed} failed, ${suite.skipped} skipped`);
}
const passed = results.reduce((sum, suite) => sum + suite.passed, 0);
const failed = results.reduce((sum, suite) => sum + suite.failed, 0);
const skipped = results.reduce((sum, suite) => sum + suite.skipped, 0);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 ? 0 : 1);
