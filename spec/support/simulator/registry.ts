// The endpoints a simulator serves, in the order requests are matched against them.

import type { EndpointDefinition } from "./endpoint.ts";
import { appServiceEndpoint } from "./endpoints/appservice.ts";
import { createArcEndpoint } from "./endpoints/arc.ts";
import { cloudShellEndpoint } from "./endpoints/cloudshell.ts";
import { entraEndpoint } from "./endpoints/entra.ts";
import { imdsEndpoint } from "./endpoints/imds.ts";
import { jwksEndpoint } from "./endpoints/jwks.ts";
import { mlEndpoint } from "./endpoints/ml.ts";
import { openaiEndpoint } from "./endpoints/openai.ts";


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
