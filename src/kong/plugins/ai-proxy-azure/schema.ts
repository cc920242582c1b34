// The plugin's configuration, in Kong's schema format. Field names, types and
// defaults follow Kong's `ai-proxy` for an Azure model, so that its `config:`
// block works here unchanged; the README's configuration reference is checked
// against this file.

import * as cjson from "cjson.safe";
import * as typedefs from "kong.db.schema.typedefs";

import { parse_url } from "./url";


/** A name Azure puts into a host or a path: no separators, no whitespace. */
const AZURE_NAME_PATTERN = "^[%w][%w._~-]*$";

const IDENTITY_FIELDS = [
  "azure_client_id",
  "azure_client_secret",
  "azure_tenant_id",
  "azure_object_id",
  "azure_resource_id",
  "azure_token_scope",
] as const;

// Azure names a user-assigned identity by one of these, never two at once.
const USER_ASSIGNED_ID_FIELDS = ["azure_client_id", "azure_object_id", "azure_resource_id"] as const;


/** An upstream_url the plugin can send requests to: http(s), a host, a port in range. */
function valid_upstream_url(url: string): LuaMultiReturn<[true] | [undefined, string]> {
  const [parsed, err] = parse_url(url);
  if (parsed === undefined) {
    return $multi(undefined, err);
  }
  return $multi(true);
}


// Kong hands entity checks ngx.null (the same value as cjson.null) for unset fields.
type Unset = undefined | NgxNull;

interface AuthRecord {
  header_name?: string | NgxNull;
  param_name?: string | NgxNull;
  azure_use_managed_identity?: boolean | NgxNull;
  azure_client_id?: string | NgxNull;
  azure_client_secret?: string | NgxNull;
  azure_tenant_id?: string | NgxNull;
  azure_object_id?: string | NgxNull;
  azure_resource_id?: string | NgxNull;
  azure_token_scope?: string | NgxNull;
}


function is_set<T>(value: T | Unset): value is T {
  return value !== undefined && value !== cjson.null;
}


/** One way to authenticate at a time, and the identity fields only with the identity switch on. */
function check_auth(auth: AuthRecord): LuaMultiReturn<[true] | [undefined, string]> {
  const identity = auth.azure_use_managed_identity === true;
  if (identity && (is_set(auth.header_name) || is_set(auth.param_name))) {
    return $multi(undefined, "azure_use_managed_identity cannot be combined with header_name or param_name");
  }
  if (is_set(auth.header_name) && is_set(auth.param_name)) {
    return $multi(undefined, "set header_name or param_name, not both");
  }
  if (!identity) {
    for (const field of IDENTITY_FIELDS) {
      if (is_set(auth[field])) {
        return $multi(undefined, `${field} is used only with azure_use_managed_identity: true`);
      }
    }
  }
  if (USER_ASSIGNED_ID_FIELDS.filter((field) => is_set(auth[field])).length > 1) {
    return $multi(undefined, "set at most one of azure_client_id, azure_object_id and azure_resource_id");
  }
  return $multi(true);
}


const auth = {
  type: "record",
  required: false,
  description: "How requests to Azure OpenAI are authenticated: a static key, or an Entra token from an identity.",
  fields: [
    {
      header_name: {
        type: "string",
        required: false,
        referenceable: true,
        description: "Header that carries a static key, for example `api-key`.",
      },
    },
    {
      header_value: {
        type: "string",
        required: false,
        encrypted: true,
        referenceable: true,
        description: "Value of that header: the Azure OpenAI key.",
      },
    },
    {
      param_name: {
        type: "string",
        required: false,
        referenceable: true,
        description: "Query or body parameter that carries a static key.",
      },
    },
    {
      param_value: {
        type: "string",
        required: false,
        encrypted: true,
        referenceable: true,
        description: "Value of that parameter.",
      },
    },
    {
      param_location: {
        type: "string",
        required: false,
        one_of: ["query", "body"],
        description: "Where the parameter goes: `query` or `body`.",
      },
    },
    {
      azure_use_managed_identity: {
        type: "boolean",
        required: false,
        default: false,
        description:
          "Sign requests with an Entra token from the host's identity: managed identity, " +
          "workload identity, or the app registration given by the fields below.",
      },
    },
    {
      azure_client_id: {
        type: "string",
        required: false,
        referenceable: true,
        description: "Client id of a user-assigned managed identity, or of an app registration.",
      },
    },
    {
      azure_client_secret: {
        type: "string",
        required: false,
        encrypted: true,
        referenceable: true,
        description: "Client secret of the app registration; with azure_client_id and azure_tenant_id.",
      },
    },
    {
      azure_tenant_id: {
        type: "string",
        required: false,
        referenceable: true,
        description: "Entra tenant (directory) id of the app registration.",
      },
    },
    {
      azure_object_id: {
        type: "string",
        required: false,
        referenceable: true,
        description:
          "Extension to Kong's schema. Object (principal) id of a user-assigned managed identity; " +
          "instead of azure_client_id.",
      },
    },
    {
      azure_resource_id: {
        type: "string",
        required: false,
        referenceable: true,
        match: "^/[Ss][Uu][Bb][Ss][Cc][Rr][Ii][Pp][Tt][Ii][Oo][Nn][Ss]/%S+$",
        description:
          "Extension to Kong's schema. ARM resource id of a user-assigned managed identity " +
          "(`/subscriptions/.../userAssignedIdentities/<name>`); instead of azure_client_id.",
      },
    },
    {
      azure_token_scope: {
        type: "string",
        required: false,
        match: "^https://[^%s/]+[^%s]*/%.default$",
        description:
          "Extension to Kong's schema. The token scope, ending in `/.default`, instead of the one " +
          "model.options.azure_cloud implies.",
      },
    },
    {
      allow_override: {
        type: "boolean",
        required: false,
        default: false,
        description: "Let a client's own `Authorization` or key header (or key parameter) through instead of ours.",
      },
    },
    {
      token_wait_timeout: {
        type: "number",
        required: true,
        default: 5,
        between: [0.1, 60],
        description:
          "Extension to Kong's schema. Seconds a request waits for an Entra token when no valid one is " +
          "cached (at start, or after the identity failed); then it fails with the identity's error.",
      },
    },
  ],
  entity_checks: [
    { mutually_required: ["header_name", "header_value"] },
    { mutually_required: ["param_name", "param_value", "param_location"] },
    {
      custom_entity_check: {
        field_sources: ["header_name", "param_name", "azure_use_managed_identity", ...IDENTITY_FIELDS],
        fn: check_auth,
      },
    },
  ],
};


const model_options = {
  type: "record",
  required: true,
  description: "Where the model is deployed in Azure OpenAI, and defaults for its parameters.",
  fields: [
    {
      azure_instance: {
        type: "string",
        required: true,
        match: AZURE_NAME_PATTERN,
        description: "Azure OpenAI resource name: the `{name}` in `{name}.openai.azure.com`.",
      },
    },
    {
      azure_deployment_id: {
        type: "string",
        required: true,
        match: AZURE_NAME_PATTERN,
        description: "Deployment name inside that resource.",
      },
    },
    {
      azure_api_version: {
        type: "string",
        required: true,
        default: "2023-05-15",
        match: "^[%w.-]+$",
        description: "`api-version` sent to Azure when the client sends none.",
      },
    },
    {
      azure_cloud: {
        type: "string",
        required: true,
        default: "public",
        one_of: ["public", "usgovernment", "china"],
        description:
          "Extension to Kong's schema. The Azure cloud: sets the Entra authority, the token scope and " +
          "the Azure OpenAI host suffix.",
      },
    },
    {
      azure_host_suffix: {
        type: "string",
        required: false,
        match: "^[%w][%w.-]*%w$",
        description:
          "Extension to Kong's schema. Host suffix of the resource instead of the cloud's " +
          "(`openai.azure.com`), e.g. `cognitiveservices.azure.com`.",
      },
    },
    {
      azure_api_style: {
        type: "string",
        required: true,
        default: "deployments",
        one_of: ["deployments", "v1"],
        description:
          "Extension to Kong's schema. `deployments`: `/openai/deployments/<id>/...` with an api-version; " +
          "`v1`: `/openai/v1/...` with the deployment as the body's `model` and no api-version.",
      },
    },
    {
      upstream_url: {
        ...typedefs.url,
        // Kong's url type asks only for a scheme and a host; a URL the plugin
        // cannot call (another scheme, a bad port) is refused here, not on
        // every request.
        custom_validator: valid_upstream_url,
        required: false,
        description: "Full http(s) URL to call instead of the one computed from the instance, deployment and route type.",
      },
    },
    {
      upstream_path: {
        type: "string",
        required: false,
        match: "^/",
        description: "Path to call instead of the computed one (deprecated in Kong; prefer upstream_url).",
      },
    },
    {
      max_tokens: {
        type: "integer",
        required: false,
        gt: 0,
        description: "`max_tokens` for requests that set none.",
      },
    },
    {
      temperature: {
        type: "number",
        required: false,
        between: [0, 5],
        description: "`temperature` for requests that set none.",
      },
    },
    {
      top_p: {
        type: "number",
        required: false,
        between: [0, 1],
        description: "`top_p` for requests that set none.",
      },
    },
  ],
};


const model = {
  type: "record",
  required: true,
  description: "The model behind this route.",
  fields: [
    {
      provider: {
        type: "string",
        required: true,
        one_of: ["azure"],
        description: "The model provider. This plugin serves Azure OpenAI only: `azure`.",
      },
    },
    {
      name: {
        type: "string",
        required: false,
        description: "Model name. A request body's `model` must match it; reported in `X-Kong-LLM-Model`.",
      },
    },
    { options: model_options },
  ],
};


const logging = {
  type: "record",
  required: true,
  description: "What the plugin adds to Kong's request log.",
  fields: [
    {
      log_statistics: {
        type: "boolean",
        required: true,
        default: false,
        description: "Add token usage and latency to the request log.",
      },
    },
    {
      log_payloads: {
        type: "boolean",
        required: true,
        default: false,
        description: "Add the request and response bodies to the request log.",
      },
    },
  ],
};


const config = {
  type: "record",
  description: "Configuration of ai-proxy-azure; the same block as Kong's ai-proxy for an Azure model.",
  fields: [
    {
      route_type: {
        type: "string",
        required: true,
        one_of: ["llm/v1/chat", "llm/v1/completions", "llm/v1/embeddings", "preserve"],
        description: "The kind of OpenAI request this route carries; `preserve` passes the client's path and body as they are.",
      },
    },
    { auth },
    { model },
    { logging },
    {
      response_streaming: {
        type: "string",
        required: true,
        default: "allow",
        one_of: ["allow", "deny", "always"],
        description: "Whether clients may ask for a streamed (SSE) answer: `allow`, `deny`, or `always` stream.",
      },
    },
    {
      max_request_body_size: {
        type: "integer",
        required: true,
        default: 8192,
        gt: 0,
        description: "Largest request body accepted, in bytes; larger bodies get 413.",
      },
    },
    {
      model_name_header: {
        type: "boolean",
        required: true,
        default: true,
        description: "Send `X-Kong-LLM-Model: azure/<model>` with each response.",
      },
    },
  ],
};


export = {
  name: "ai-proxy-azure",
  fields: [{ protocols: typedefs.protocols_http }, { config }],
};
