// A throwaway test CA and a server certificate for localhost and 127.0.0.1, made with
// the openssl command line in the simulator's temporary directory.

import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";


const run = promisify(execFile);

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

const SERVER_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=DNS:localhost,IP:127.0.0.1",
].join("\n");


export interface TestCertificates {
  /** PEM file of the CA, for callers to trust. */
  caPath: string;
  serverKey: Buffer;
  serverCert: Buffer;
}


async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`failed to run openssl ${args[0]}: ${detail}`);
  }
}


export async function createTestCertificates(directory: string): Promise<TestCertificates> {
  // The CA and the server's request do not depend on each other: make them together.
  await Promise.all([
    openssl(
      [
        "req", "-x509", ...EC_KEY, "-days", "30",
        "-keyout", "ca.key", "-out", "ca.pem",
        "-subj", "/CN=ai-proxy-azure simulator test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      ],
      directory,
    ),
    openssl(
      ["req", ...EC_KEY, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
      directory,
    ),
    writeFile(join(directory, "server.ext"), `${SERVER_EXTENSIONS}\n`),
  ]);
  await openssl(
    [
      "x509", "-req", "-in", "server.csr", "-days", "30",
      "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-extfile", "server.ext", "-out", "server.pem",
    ],
    directory,
  );
  return {
    caPath: join(directory, "ca.pem"),
    serverKey: await readFile(join(directory, "server.key")),
    serverCert: await readFile(join(directory, "server.pem")),
  };
}
