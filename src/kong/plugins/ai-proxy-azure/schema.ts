// The plugin's configuration, in Kong's schema format. Field names, types and
// defaults follow Kong's `ai-proxy` for an Azure model, so that its `config:`
// block works here unchanged.

import * as typedefs from "kong.db.schema.typedefs";


/** A name Azure puts into a host or a path: no separators, no whitespace. */
const AZURE_NAME_PATTERN = "^[%w][%w._~-]*$";


const auth = {
  type: "record",
  required: false,
  description: "How requests to Azure OpenAI are authenticated.",
  fields: [
    {
      header_name: {
        type: "string",
        required: false,
        referenceable: true,
        description: "Name of the header that carries a static key, for example `api-key`.",
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
  ],
  entity_checks: [{ mutually_required: ["header_name", "header_value"] }],
};


const model_options = {
  type: "record",
  required: true,
  description: "Where the model is deployed in Azure OpenAI.",
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
      upstream_url: {
        ...typedefs.url,
        required: false,
        description: "Full URL to call instead of the one computed from the instance and deployment.",
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
        description: "Model name, reported in `X-Kong-LLM-Model`.",
      },
    },
    { options: model_options },
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
        one_of: ["llm/v1/chat"],
        description: "The kind of OpenAI request this route carries.",
      },
    },
    { auth },
    { model },
  ],
};


export = {
  name: "ai-proxy-azure",
  fields: [{ protocols: typedefs.protocols_http }, { config }],
};
