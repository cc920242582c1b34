// Builders for the plugin configs and environments scenarios use, so that a
// scenario states only what differs.

import { SIM_DOCUMENTED_DEPLOYMENT } from "../../support/simulator/index.ts";
import type { PluginConfig, Stack } from "./stack.ts";

export const CHAT = { messages: [{ role: "user", content: "Hello from Kong" }] };

const OPERATIONS: Record<string, string> = {
  "llm/v1/chat": "/chat/completions",
  "llm/v1/completions": "/completions",
  "llm/v1/embeddings": "/embeddings",
  preserve: "",
};

export interface ConfigChanges {
  route_type?: string;
  auth?: Record<string, unknown>;
  /** Merged into model.options. */
  options?: Record<string, unknown>;
  model_name?: string | null;
  deployment?: string;
  /** Top-level fields besides route_type, auth and model. */
  extra?: Record<string, unknown>;
  /** Leave upstream_url unset: the plugin computes the URL itself. */
  computedUrl?: boolean;
}

/**
 * A config in the shape of Kong's documented examples, aimed at the simulator
 * through upstream_url (Azure's own host cannot be reached from a test).
 */
export function pluginConfig(stack: Stack, changes: ConfigChanges = {}): PluginConfig {
  const routeType = changes.route_type ?? "llm/v1/chat";
  const deployment = changes.deployment ?? SIM_DOCUMENTED_DEPLOYMENT;
  const options: Record<string, unknown> = {
    azure_instance: "my-openai-instance",
    azure_deployment_id: deployment,
    ...changes.options,
  };
  if (changes.computedUrl !== true && options.upstream_url === undefined) {
    options.upstream_url = `${stack.simHttpUrl}/openai/deployments/${deployment}${OPERATIONS[routeType]}`;
  }
  const model: Record<string, unknown> = { provider: "azure", options };
  if (changes.model_name !== null) {
    model.name = changes.model_name ?? "gpt-35-turbo";
  }
  return {
    route_type: routeType,
    ...(changes.auth === undefined ? {} : { auth: changes.auth }),
    model,
    ...changes.extra,
  };
}

/** Variables that send IMDS and Entra requests to the simulator, as Azure's SDKs allow. */
export function simulatedAzure(stack: Stack): Record<string, string> {
  return {
    AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.simHttpUrl,
    AZURE_AUTHORITY_HOST: stack.simHttpsUrl,
  };
}
