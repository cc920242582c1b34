// The endpoints a simulator serves, in the order requests are matched against them.

import type { EndpointDefinition } from "./endpoint.js";
import { appServiceEndpoint } from "./endpoints/appservice.js";
import { createArcEndpoint } from "./endpoints/arc.js";
import { cloudShellEndpoint } from "./endpoints/cloudshell.js";
import { entraEndpoint } from "./endpoints/entra.js";
import { imdsEndpoint } from "./endpoints/imds.js";
import { jwksEndpoint } from "./endpoints/jwks.js";
import { mlEndpoint } from "./endpoints/ml.js";
import { openaiEndpoint } from "./endpoints/openai.js";


/** A fresh set per simulator, since some endpoints (Arc) keep state between requests. */
export function createEndpoints(): EndpointDefinition[] {
  return [
    imdsEndpoint,
    appServiceEndpoint,
    createArcEndpoint(),
    cloudShellEndpoint,
    mlEndpoint,
    entraEndpoint,
    jwksEndpoint,
    openaiEndpoint,
  ];
}
