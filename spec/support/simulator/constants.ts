// Fixed identities and secrets of a freshly started simulator. They are test values:
// the GUIDs are made up and point at nothing real.

import type { AppRegistration, ManagedIdentity, SimulatorConfig } from "./types.ts";


export const SIM_TENANT_ID = "5e1a0000-7e57-4000-8000-00000000a001";
export const SIM_SUBSCRIPTION_ID = "5e1a0000-7e57-4000-8000-00000000b001";
export const SIM_RESOURCE_GROUP = "sim-rg";

export const SIM_SYSTEM_IDENTITY: ManagedIdentity = {
  kind: "system",
  clientId: "5e1a0000-7e57-4000-8000-00000000c000",
  objectId: "5e1a0000-7e57-4000-8000-00000000d000",
  resourceId:
    `/subscriptions/${SIM_SUBSCRIPTION_ID}/resourceGroups/${SIM_RESOURCE_GROUP}` +
    "/providers/Microsoft.Compute/virtualMachines/sim-vm",
};

export const SIM_USER_IDENTITY_1: ManagedIdentity = {
  kind: "user",
  clientId: "5e1a0000-7e57-4000-8000-00000000c001",
  objectId: "5e1a0000-7e57-4000-8000-00000000d001",
  resourceId:
    `/subscriptions/${SIM_SUBSCRIPTION_ID}/resourceGroups/${SIM_RESOURCE_GROUP}` +
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sim-identity-1",
};

export const SIM_USER_IDENTITY_2: ManagedIdentity = {
  kind: "user",
  clientId: "5e1a0000-7e57-4000-8000-00000000c002",
  objectId: "5e1a0000-7e57-4000-8000-00000000d002",
  resourceId:
    `/subscriptions/${SIM_SUBSCRIPTION_ID}/resourceGroups/${SIM_RESOURCE_GROUP}` +
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sim-identity-2",
};

/** An app registration that signs in with a client secret. */
export const SIM_SECRET_APP: AppRegistration = {
  tenantId: SIM_TENANT_ID,
  clientId: "5e1a0000-7e57-4000-8000-00000000e001",
  objectId: "5e1a0000-7e57-4000-8000-00000000f001",
  clientSecret: "sim~client-secret-0123456789abcdef",
};

export const SIM_WORKLOAD_SUBJECT = "system:serviceaccount:kong:kong-gateway";

/** An app registration trusted by the simulated cluster (AKS workload identity). */
export const SIM_WORKLOAD_APP: AppRegistration = {
  tenantId: SIM_TENANT_ID,
  clientId: "5e1a0000-7e57-4000-8000-00000000e002",
  objectId: "5e1a0000-7e57-4000-8000-00000000f002",
  federatedSubjects: [SIM_WORKLOAD_SUBJECT],
};

export const SIM_API_KEY = "sim-azure-openai-api-key-0123456789";
export const SIM_IDENTITY_HEADER = "sim-app-service-identity-header";
export const SIM_ML_SECRET = "sim-machine-learning-msi-secret";
export const SIM_OIDC_ISSUER = "https://oidc.simulator.invalid/cluster/";
export const COGNITIVE_SERVICES_RESOURCE = "https://cognitiveservices.azure.com";
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Deployments a fresh simulator serves; any other name gets Azure's 404 DeploymentNotFound. */
/** The deployment in Kong's documented ai-proxy examples, so they work here verbatim. */
export const SIM_DOCUMENTED_DEPLOYMENT = "kong-gpt-3-5";
export const SIM_CHAT_DEPLOYMENT = "gpt-35-turbo";
export const SIM_CHAT_DEPLOYMENT_4O = "gpt-4o";
export const SIM_EMBEDDINGS_DEPLOYMENT = "text-embedding-3-small";

export const DEFAULT_CONFIG: SimulatorConfig = {
  tokenLifetimeSeconds: 3600,
  refreshInSeconds: null,
  streamChunkDelayMs: 50,
  streamChunks: 3,
  embeddingDimensions: 8,
  apiKey: SIM_API_KEY,
  audience: COGNITIVE_SERVICES_RESOURCE,
  tenantId: SIM_TENANT_ID,
  tenants: [SIM_TENANT_ID],
  identities: [SIM_SYSTEM_IDENTITY, SIM_USER_IDENTITY_1, SIM_USER_IDENTITY_2],
  apps: [SIM_SECRET_APP, SIM_WORKLOAD_APP],
  identityHeader: SIM_IDENTITY_HEADER,
  mlSecret: SIM_ML_SECRET,
  arcKeyDirectory: "",
  arcKeyFileMode: 0o600,
  oidcIssuer: SIM_OIDC_ISSUER,
  deployments: {
    [SIM_CHAT_DEPLOYMENT]: { model: "gpt-35-turbo" },
    [SIM_DOCUMENTED_DEPLOYMENT]: { model: "gpt-35-turbo" },
    [SIM_CHAT_DEPLOYMENT_4O]: { model: "gpt-4o-2024-08-06" },
    [SIM_EMBEDDINGS_DEPLOYMENT]: { model: "text-embedding-3-small" },
  },
};
