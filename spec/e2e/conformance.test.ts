// The plugin's token requests, side by side with those of Azure's own SDK
// (@azure/identity) given the same identity: for each token source, both ask
// the simulator for a token and the journal shows whether they asked the same
// way. Telemetry (user agents, request ids, library versions) is left out.
//
// The SDK runs in a child process, this same file started with
// SDK_CREDENTIAL_VARIABLE set: that is where it gets a clean environment of
// AZURE_* variables, and NODE_EXTRA_CA_CERTS to trust the simulator's test CA
// (Node reads that variable only when it starts). It reaches the simulator at
// this machine's own address, whichever target runs the gateway.
//
// Azure Arc answers a first request with a challenge naming a key file, which
// the SDK accepts only under /var/opt/azcmagent/tokens/: the simulator's key
// files are elsewhere, so the SDK stops after the challenge. For Arc the
// challenged requests are compared, and the plugin's answer to the challenge
// is checked against that same request plus the key as Basic credentials.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";

import {
  ClientSecretCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type ClientSecretCredentialOptions,
  type TokenCredential,
} from "@azure/identity";

import { REPO_ROOT } from "../support/runtime/gateway.ts";
import {
  SIM_IDENTITY_HEADER,
  SIM_SECRET_APP,
  SIM_TENANT_ID,
  SIM_USER_IDENTITY_1,
  SIM_WORKLOAD_APP,
  type EndpointName,
  type JournalEntry,
} from "../support/simulator/index.ts";
import { useStack, type Stack } from "./support/stack.ts";
import { currentTarget } from "./support/targets.ts";


const SCOPE = "https://cognitiveservices.azure.com/.default";

const CHAT = { messages: [{ role: "user", content: "Hello" }] };

/** Set in the child process only: which credential the SDK builds there. */
const SDK_CREDENTIAL_VARIABLE = "CONFORMANCE_SDK_CREDENTIAL";

const SDK_TIMEOUT_MS = 30_000;

// Headers that say who is asking for a token. Absent on both sides counts as equal.
const IDENTITY_HEADERS = ["metadata", "x-identity-header", "secret", "authorization"];

// Names that only describe the caller (library, version, OS, request id) or
// its retry capabilities: each library sends its own, so they are not compared.
const TELEMETRY_PATTERNS = [
  /^user-agent$/,
  /^client-request-id$/,
  /^return-client-request-id$/,
  /^x-ms-client-request-id$/,
  /^x-client-/,
  /^x-app-/,
  /^x-ms-lib-capability$/,
];

type SdkCredentialKind = "managed-identity" | "client-secret" | "workload-identity";

interface TokenSourceCase {
  title: string;
  sdk: SdkCredentialKind;
  endpoint: EndpointName;
  /**
   * The identity variables of this source, for a process that reaches the
   * simulator at httpUrl and httpsUrl; the federated token file at tokenFile.
   */
  variables(urls: { httpUrl: string; httpsUrl: string; tokenFile: string }): Record<string, string>;
  /** Azure Arc: the first request is answered with a key file challenge. */
  challenged?: boolean;
}

interface TokenRequests {
  sdk: JournalEntry;
  plugin: JournalEntry;
  /** Arc: the plugin's second request, which answers the challenge. */
  pluginAnswer?: JournalEntry;
  /** Arc: the contents of the key file the challenge named. */
  key?: string;
  /** The federated token file's content: the assertion both must send. */
  assertion: string;
}


const ARC_PATH = "/arc/metadata/identity/oauth2/token";

const CASES: TokenSourceCase[] = [
  {
    title: "the system-assigned managed identity (IMDS)",
    sdk: "managed-identity",
    endpoint: "imds",
    variables: ({ httpUrl }) => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: httpUrl }),
  },
  {
    title: "the system-assigned managed identity (App Service, Functions, Container Apps)",
    sdk: "managed-identity",
    endpoint: "appservice",
    variables: ({ httpUrl }) => ({ IDENTITY_ENDPOINT: `${httpUrl}/msi/token`, IDENTITY_HEADER: SIM_IDENTITY_HEADER }),
  },
  {
    title: "a user-assigned managed identity by client id (App Service)",
    sdk: "managed-identity",
    endpoint: "appservice",
    variables: ({ httpUrl }) => ({
      IDENTITY_ENDPOINT: `${httpUrl}/msi/token`,
      IDENTITY_HEADER: SIM_IDENTITY_HEADER,
      AZURE_CLIENT_ID: SIM_USER_IDENTITY_1.clientId,
    }),
  },
  {
    title: "the managed identity of an Azure Arc-enabled server",
    sdk: "managed-identity",
    endpoint: "arc",
    challenged: true,
    variables: ({ httpUrl }) => ({ IDENTITY_ENDPOINT: `${httpUrl}${ARC_PATH}`, IMDS_ENDPOINT: httpUrl }),
  },
  {
    title: "a user-assigned managed identity by client id (IMDS)",
    sdk: "managed-identity",
    endpoint: "imds",
    variables: ({ httpUrl }) => ({
      AZURE_POD_IDENTITY_AUTHORITY_HOST: httpUrl,
      AZURE_CLIENT_ID: SIM_USER_IDENTITY_1.clientId,
    }),
  },
  {
    title: "a client secret (Entra ID)",
    sdk: "client-secret",
    endpoint: "entra",
    variables: ({ httpsUrl }) => ({
      AZURE_AUTHORITY_HOST: httpsUrl,
      AZURE_TENANT_ID: SIM_SECRET_APP.tenantId,
      AZURE_CLIENT_ID: SIM_SECRET_APP.clientId,
      AZURE_CLIENT_SECRET: SIM_SECRET_APP.clientSecret ?? "",
    }),
  },
  {
    title: "the AKS workload identity (Entra ID)",
    sdk: "workload-identity",
    endpoint: "entra",
    variables: ({ httpsUrl, tokenFile }) => ({
      AZURE_AUTHORITY_HOST: httpsUrl,
      AZURE_TENANT_ID: SIM_WORKLOAD_APP.tenantId,
      AZURE_CLIENT_ID: SIM_WORKLOAD_APP.clientId,
      AZURE_FEDERATED_TOKEN_FILE: tokenFile,
    }),
  },
];


function isSdkCredentialKind(value: string): value is SdkCredentialKind {
  return value === "managed-identity" || value === "client-secret" || value === "workload-identity";
}


function requiredVariable(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`the SDK's child process needs ${name}`);
  }
  return value;
}


/** The credential the SDK builds from the same variables the plugin reads. */
function sdkCredential(kind: SdkCredentialKind): TokenCredential {
  if (kind === "managed-identity") {
    const clientId = process.env.AZURE_CLIENT_ID;
    return clientId === undefined
      ? new ManagedIdentityCredential()
      : new ManagedIdentityCredential({ clientId });
  }
  const tenantId = requiredVariable("AZURE_TENANT_ID");
  const clientId = requiredVariable("AZURE_CLIENT_ID");
  // Instance discovery would ask login.microsoftonline.com about this
  // authority: off, as for any authority Microsoft does not list. MSAL then
  // reads the authority's OpenID configuration, which the simulator serves.
  const authorityHost = requiredVariable("AZURE_AUTHORITY_HOST");
  const options: ClientSecretCredentialOptions = { authorityHost, disableInstanceDiscovery: true };
  if (kind === "client-secret") {
    const clientSecret = requiredVariable("AZURE_CLIENT_SECRET");
    return new ClientSecretCredential(tenantId, clientId, clientSecret, options);
  }
  const tokenFilePath = requiredVariable("AZURE_FEDERATED_TOKEN_FILE");
  return new WorkloadIdentityCredential({ tenantId, clientId, tokenFilePath, ...options });
}


/** The child process's whole job: one token from the SDK, or a non-zero exit. */
async function runSdkChild(kind: string): Promise<void> {
  if (!isSdkCredentialKind(kind)) {
    throw new Error(`unknown SDK credential '${kind}'`);
  }
  const token = await sdkCredential(kind).getToken(SCOPE);
  if (token === null || token.token === "") {
    throw new Error("the SDK returned no token");
  }
}


/** Starts this file as the SDK's child process, with only the given variables. */
async function sdkTokenRequest(
  stack: Stack,
  tokenSource: TokenSourceCase,
  tokenFile: string,
): Promise<JournalEntry> {
  const variables = tokenSource.variables({
    httpUrl: stack.sim.httpUrl,
    httpsUrl: stack.sim.httpsUrl,
    tokenFile,
  });
  stack.sim.control.clearJournal();
  try {
    const thisFile = fileURLToPath(import.meta.url);
    await promisify(execFile)(process.execPath, ["--import", "tsx", thisFile], {
      cwd: REPO_ROOT,
      timeout: SDK_TIMEOUT_MS,
      env: {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: stack.sim.caPath,
        [SDK_CREDENTIAL_VARIABLE]: tokenSource.sdk,
        ...variables,
      },
    });
  } catch (err) {
    const stderr = err instanceof Error && "stderr" in err ? String(err.stderr) : "";
    if (tokenSource.challenged === true && /file path in the WWW-Authenticate header/.test(stderr)) {
      // The SDK refused the simulator's key file path, as expected: its challenged request is what counts.
      return firstTokenRequest(stack, tokenSource.endpoint, "the SDK", 401);
    }
    const unanswered = stack.sim.control
      .journal({ endpoint: "unmatched" })
      .map((request) => `${request.method} ${request.path}`);
    const also = unanswered.length === 0 ? "nothing else" : unanswered.join(", ");
    const reason = stderr === "" ? String(err) : stderr;
    assert.fail(`the SDK got no token from the simulator (it also asked for: ${also}): ${reason}`);
  }
  assert.notEqual(tokenSource.challenged, true, "the SDK accepted a key file outside the Arc agent's directory");
  return firstTokenRequest(stack, tokenSource.endpoint, "the SDK");
}


/** The first request to the endpoint; 401 for Arc, whose first answer is a challenge. */
function firstTokenRequest(stack: Stack, endpoint: EndpointName, who: string, status = 200): JournalEntry {
  const [request] = stack.sim.control.journal({ endpoint });
  assert.ok(request, `${who} sent no request to the ${endpoint} endpoint`);
  assert.equal(request.status, status, `${who}'s token request got ${request.status}, not ${status}`);
  return request;
}


function isTelemetry(name: string): boolean {
  const lower = name.toLowerCase();
  return TELEMETRY_PATTERNS.some((pattern) => pattern.test(lower));
}


/** Name/value pairs without telemetry, sorted, so that order does not count. */
function comparablePairs(pairs: Iterable<[string, string]>): Array<[string, string]> {
  return [...pairs]
    .filter(([name]) => !isTelemetry(name))
    .sort(([a, aValue], [b, bValue]) => a.localeCompare(b) || aValue.localeCompare(bValue));
}


function formFields(request: JournalEntry): Array<[string, string]> {
  return comparablePairs(new URLSearchParams(request.body).entries());
}


function clientAssertion(request: JournalEntry): string | null {
  return new URLSearchParams(request.body).get("client_assertion");
}


function identityHeaders(request: JournalEntry): Record<string, string | undefined> {
  return Object.fromEntries(IDENTITY_HEADERS.map((name) => [name, request.headers[name]]));
}


/** The media type alone: parameters such as charset vary between libraries. */
function mediaType(request: JournalEntry): string | undefined {
  return request.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
}


function makeTokenFile(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "ai-proxy-azure-conformance-"));
  // The gateway's workers run as another user: they need to read this file.
  chmodSync(dir, 0o755);
  return { dir, file: join(dir, "azure-identity-token") };
}


function describeTokenSource(tokenSource: TokenSourceCase): void {
  // The Arc key files appear on this machine while the gateway runs: a container cannot see them.
  const skip = tokenSource.challenged === true && currentTarget().name === "kong"
    ? "the simulator's Arc key files are not visible inside a container"
    : false;
  describe(`token requests for ${tokenSource.title}`, { skip }, () => {
    const tokenFile = makeTokenFile();
    let assertion = "";

    const stack = useStack((stack) => {
      assertion = stack.sim.control.federatedToken({
        clientId: SIM_WORKLOAD_APP.clientId,
        tenantId: SIM_TENANT_ID,
      }).token;
      // With a trailing newline: what both must send is the trimmed content.
      writeFileSync(tokenFile.file, `${assertion}\n`, { mode: 0o644 });
      const gatewayFile = stack.target.pathFor(tokenFile.file);
      const arcVariables: Record<string, string> = {};
      if (tokenSource.challenged === true) {
        // Key files in a directory the gateway's workers (another user) can read.
        stack.sim.control.updateConfig({ arcKeyDirectory: tokenFile.dir, arcKeyFileMode: 0o644 });
        arcVariables.AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR = `${tokenFile.dir}/`;
      }
      return {
        plugin: {
          route_type: "llm/v1/chat",
          auth: { azure_use_managed_identity: true },
          model: {
            provider: "azure",
            name: "gpt-35-turbo",
            options: {
              azure_instance: "my-openai-instance",
              azure_deployment_id: "kong-gpt-3-5",
              upstream_url: `${stack.simHttpUrl}/openai/deployments/kong-gpt-3-5/chat/completions`,
            },
          },
        },
        env: {
          ...tokenSource.variables({
            httpUrl: stack.simHttpUrl,
            httpsUrl: stack.simHttpsUrl,
            tokenFile: gatewayFile,
          }),
          ...arcVariables,
        },
        files: { [tokenFile.file]: gatewayFile },
      };
    });

    let requests: TokenRequests | undefined;
    const compared = (): TokenRequests => {
      assert.ok(requests, "the token requests were not collected");
      return requests;
    };

    before(async () => {
      // The gateway first: it has talked to nothing else since it started.
      const response = await stack.post("/openai", CHAT);
      const answer = await response.text();
      assert.equal(response.status, 200, `the gateway did not sign the chat request: ${answer}`);
      const plugin = firstTokenRequest(stack, tokenSource.endpoint, "the plugin", tokenSource.challenged ? 401 : 200);
      const pluginAnswer = stack.sim.control.journal({ endpoint: tokenSource.endpoint })[1];
      const keyFiles = readdirSync(tokenFile.dir).filter((name) => name.endsWith(".key"));
      const key = keyFiles.length === 1 ? readFileSync(join(tokenFile.dir, keyFiles[0]!), "utf8") : undefined;
      const sdk = await sdkTokenRequest(stack, tokenSource, tokenFile.file);
      requests = { sdk, plugin, assertion, pluginAnswer, key };
    });

    after(() => {
      rmSync(tokenFile.dir, { recursive: true, force: true });
    });

    it("uses the same HTTP method", () => {
      const { sdk, plugin } = compared();
      assert.equal(plugin.method, sdk.method);
    });

    it("asks for the same path", () => {
      const { sdk, plugin } = compared();
      assert.equal(plugin.path, sdk.path);
    });

    it("sends the same query parameters", () => {
      const { sdk, plugin } = compared();
      const pluginQuery = comparablePairs(Object.entries(plugin.query));
      assert.deepEqual(pluginQuery, comparablePairs(Object.entries(sdk.query)));
    });

    it("sends the same identity headers", () => {
      const { sdk, plugin } = compared();
      assert.deepEqual(identityHeaders(plugin), identityHeaders(sdk));
    });

    if (tokenSource.challenged === true) {
      it("answers the challenge with the same request and the key file's contents as Basic credentials", () => {
        const { plugin, pluginAnswer, key } = compared();
        assert.ok(pluginAnswer, "the plugin did not answer the challenge");
        assert.equal(pluginAnswer.status, 200);
        assert.equal(pluginAnswer.method, plugin.method);
        assert.equal(pluginAnswer.path, plugin.path);
        assert.deepEqual(pluginAnswer.query, plugin.query);
        assert.equal(pluginAnswer.headers.metadata, plugin.headers.metadata);
        assert.equal(pluginAnswer.headers.authorization, `Basic ${key}`);
      });
    }

    // Only a form has an encoding to agree on. (The SDK also sends a form
    // Content-Type on its bodyless IMDS GET, and the plugin none: with no body
    // it describes nothing, so it is not compared.)
    if (tokenSource.endpoint === "entra") {
      it("declares the same form encoding", () => {
        const { sdk, plugin } = compared();
        assert.equal(mediaType(plugin), mediaType(sdk));
      });
    }

    it("sends the same form fields", () => {
      const { sdk, plugin, assertion } = compared();
      if (tokenSource.sdk === "workload-identity") {
        const notTheFile = "client_assertion is not the token file's content";
        assert.equal(clientAssertion(sdk), assertion, `the SDK's ${notTheFile}`);
        assert.equal(clientAssertion(plugin), assertion, `the plugin's ${notTheFile}`);
      }
      assert.deepEqual(formFields(plugin), formFields(sdk));
    });
  });
}


const sdkChildKind = process.env[SDK_CREDENTIAL_VARIABLE];
if (sdkChildKind !== undefined) {
  await runSdkChild(sdkChildKind);
} else {
  for (const tokenSource of CASES) {
    describeTokenSource(tokenSource);
  }
}
