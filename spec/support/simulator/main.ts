// Runs the simulator as a process: prints one JSON line with its addresses, then
// serves until SIGINT or SIGTERM, and removes its temporary directory on the way out.
//
//   node --import tsx spec/support/simulator/main.ts [--http-port N] [--https-port N]
//     [--cert-host NAME]...   (more names for the HTTPS certificate, repeatable)

import { parseArgs } from "node:util";

import { startSimulator, type Simulator } from "./index.ts";


function portOption(value: string | undefined, name: string): number {
  if (value === undefined) {
    return 0;
  }
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--${name} must be a port number, not '${value}'`);
  }
  return port;
}


function stopAndExit(simulator: Simulator): void {
  simulator.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`simulator: failed to stop cleanly: ${String(error)}\n`);
      process.exit(1);
    },
  );
}


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "http-port": { type: "string" },
      "https-port": { type: "string" },
      "cert-host": { type: "string", multiple: true },
    },
  });
  const httpPort = portOption(values["http-port"], "http-port");
  const httpsPort = portOption(values["https-port"], "https-port");

  // Handlers go in before anything else, so that a signal during start-up still
  // ends in a clean stop rather than a left-over temporary directory.
  let simulator: Simulator | undefined;
  let stopRequested = false;
  const shutdown = (): void => {
    stopRequested = true;
    if (simulator !== undefined) {
      stopAndExit(simulator);
    }
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);

  simulator = await startSimulator({ httpPort, httpsPort, certificateHosts: values["cert-host"] });
  if (stopRequested) {
    stopAndExit(simulator);
    return;
  }
  const { httpUrl, httpsUrl, caPath, controlUrl } = simulator;
  process.stdout.write(`${JSON.stringify({ httpUrl, httpsUrl, caPath, controlUrl })}\n`);
}


main().catch((error: unknown) => {
  process.stderr.write(`simulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
