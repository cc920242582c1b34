// A throwaway test CA and a server certificate for localhost and 127.0.0.1 (and any
// other names asked for), made with the openssl command line in the simulator's
// temporary directory.

import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";


const run = promisify(execFile);

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

const DEFAULT_HOSTS = ["localhost", "127.0.0.1"];

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;


export interface TestCertificates {
  /** PEM file of the CA, for callers to trust. */
  caPath: string;
  serverKey: Buffer;
  serverCert: Buffer;
}


/** The server certificate's extensions; `hosts` become DNS or IP subject alternative names. */
function serverExtensions(hosts: readonly string[]): string {
  const names = hosts.map((host) => {
    if (isIP(host) !== 0) {
      return `IP:${host}`;
    }
    if (!HOST_NAME.test(host)) {
      throw new RangeError(`'${host}' is neither an IP address nor a host name`);
    }
    return `DNS:${host}`;
  });
  return [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    `subjectAltName=${[...new Set(names)].join(",")}`,
  ].join("\n");
}


async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`failed to run openssl ${args[0]}: ${detail}`);
  }
}


/**
 * @param extraHosts names or addresses the server certificate is valid for besides
 *   localhost and 127.0.0.1, e.g. the name under which a container reaches this host
 */
export async function createTestCertificates(
  directory: string,
  extraHosts: readonly string[] = [],
): Promise<TestCertificates> {
  const extensions = serverExtensions([...DEFAULT_HOSTS, ...extraHosts]);
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
    writeFile(join(directory, "server.ext"), `${extensions}\n`),
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
