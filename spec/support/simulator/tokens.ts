// The simulator's two signers: Entra (access tokens for Azure OpenAI) and the
// simulated cluster's OIDC issuer (federated assertions for workload identity).

import { randomBytes } from "node:crypto";

import { TOKEN_EXCHANGE_AUDIENCE } from "./constants.ts";
import { nowSeconds } from "./http-util.ts";
import {
  audiences,
  checkLifetime,
  createSigningKey,
  decodeAndVerifyJwt,
  signJwt,
  type SigningKey,
} from "./jwt.ts";
import type { AppRegistration, IssuedToken, JsonObject, SimulatorConfig } from "./types.ts";


export interface AccessTokenClaims {
  tenantId: string;
  audience: string;
  oid: string;
  appid: string;
  /** "1" for a client secret, "2" for an assertion or a managed identity. */
  appidacr?: string;
  /** ARM resource id, carried by managed identity tokens. */
  mirid?: string;
  /** Overrides the configured lifetime; may be negative. */
  lifetimeSeconds?: number;
}

export interface IssuedAccessToken extends IssuedToken {
  /** Seconds until expiry, as endpoints report it. */
  expiresIn: number;
  notBefore: number;
}

export type AccessTokenCheck =
  | { accepted: true; oid?: string; appid?: string }
  /** A refused token's oid and appid are what it claims, not proven. */
  | { accepted: false; reason: string; oid?: string; appid?: string };

/** Why Entra refused a federated assertion: an AADSTS code and a status. */
export interface AssertionRefusal {
  status: number;
  code: number;
  description: string;
}

export interface FederatedTokenClaims {
  subject: string;
  audience: string;
  lifetimeSeconds: number;
}


export interface TokenKeys {
  /** Signs access tokens, as Entra does. */
  entraKey: SigningKey;
  /** Signs federated assertions, as the cluster's OIDC issuer does. */
  oidcKey: SigningKey;
}


const STS_ISSUER_PREFIX = "https://sts.windows.net/";


export async function createTokenKeys(): Promise<TokenKeys> {
  const [entraKey, oidcKey] = await Promise.all([createSigningKey(), createSigningKey()]);
  return { entraKey, oidcKey };
}


function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}


/** The token's `oid` and `appid`, leaving out (rather than undefined) those it lacks. */
function identityOf(claims: Record<string, unknown>): { oid?: string; appid?: string } {
  const identity: { oid?: string; appid?: string } = {};
  if (typeof claims.oid === "string") {
    identity.oid = claims.oid;
  }
  if (typeof claims.appid === "string") {
    identity.appid = claims.appid;
  }
  return identity;
}


export class TokenService {
  readonly entraKey: SigningKey;
  readonly oidcKey: SigningKey;

  constructor(
    keys: TokenKeys,
    private readonly currentConfig: () => SimulatorConfig,
  ) {
    this.entraKey = keys.entraKey;
    this.oidcKey = keys.oidcKey;
  }

  issueAccessToken(request: AccessTokenClaims): IssuedAccessToken {
    const lifetime = request.lifetimeSeconds ?? this.currentConfig().tokenLifetimeSeconds;
    // Issued a second ago, so that expires_in reads 3599 for a one-hour token,
    // as the real endpoints report it.
    // One reading of the clock: signing can take long enough to cross a
    // second, which would otherwise make expires_in read 3598.
    const now = nowSeconds();
    const issuedAt = now - 1;
    const expiresOn = issuedAt + lifetime;
    const claims: JsonObject = {
      aud: request.audience,
      iss: `${STS_ISSUER_PREFIX}${request.tenantId}/`,
      iat: issuedAt,
      nbf: issuedAt,
      exp: expiresOn,
      tid: request.tenantId,
      oid: request.oid,
      sub: request.oid,
      appid: request.appid,
      azp: request.appid,
      appidacr: request.appidacr ?? "2",
      idtyp: "app",
      ver: "1.0",
      jti: randomBytes(16).toString("base64url"),
    };
    if (request.mirid !== undefined) {
      claims.xms_mirid = request.mirid;
    }
    return {
      token: signJwt(this.entraKey, claims),
      expiresOn,
      expiresIn: expiresOn - now,
      notBefore: issuedAt,
    };
  }

  /** The data plane's check of a bearer token: signature, issuer, audience, lifetime. */
  checkAccessToken(token: string): AccessTokenCheck {
    const decoded = decodeAndVerifyJwt(token, [this.entraKey]);
    if (!decoded.ok) {
      return { accepted: false, reason: decoded.reason, ...identityOf(decoded.claims ?? {}) };
    }
    const { claims } = decoded;
    const identity = identityOf(claims);
    const issuer = optionalString(claims.iss);
    if (issuer === undefined || !issuer.startsWith(STS_ISSUER_PREFIX)) {
      return { accepted: false, reason: "wrong issuer", ...identity };
    }
    const audience = this.currentConfig().audience;
    if (!audiences(claims).includes(audience)) {
      return { accepted: false, reason: `wrong audience (expected ${audience})`, ...identity };
    }
    const lifetimeProblem = checkLifetime(claims, nowSeconds());
    if (lifetimeProblem !== undefined) {
      return { accepted: false, reason: lifetimeProblem, ...identity };
    }
    return { accepted: true, ...identity };
  }

  issueFederatedToken(request: FederatedTokenClaims): IssuedToken {
    const issuedAt = nowSeconds();
    const expiresOn = issuedAt + request.lifetimeSeconds;
    const claims: JsonObject = {
      iss: this.currentConfig().oidcIssuer,
      sub: request.subject,
      aud: [request.audience],
      iat: issuedAt,
      nbf: issuedAt,
      exp: expiresOn,
      jti: randomBytes(16).toString("base64url"),
    };
    return { token: signJwt(this.oidcKey, claims), expiresOn };
  }

  /** Entra's check of a workload identity assertion against an app's federated credentials. */
  checkAssertion(assertion: string, app: AppRegistration): AssertionRefusal | undefined {
    const decoded = decodeAndVerifyJwt(assertion, [this.oidcKey]);
    if (!decoded.ok) {
      return {
        status: 401,
        code: 700027,
        description: `Client assertion failed signature validation: ${decoded.reason}.`,
      };
    }
    const { claims } = decoded;
    if (claims.iss !== this.currentConfig().oidcIssuer) {
      return {
        status: 400,
        code: 700211,
        description: "No federated identity credential of the app trusts the assertion's issuer.",
      };
    }
    const lifetimeProblem = checkLifetime(claims, nowSeconds());
    if (lifetimeProblem !== undefined) {
      return {
        status: 400,
        code: 700024,
        description: `Client assertion is not within its valid time range (${lifetimeProblem}).`,
      };
    }
    if (!audiences(claims).includes(TOKEN_EXCHANGE_AUDIENCE)) {
      return {
        status: 400,
        code: 700212,
        description: `The assertion's audience does not include ${TOKEN_EXCHANGE_AUDIENCE}.`,
      };
    }
    const subject = optionalString(claims.sub);
    if (subject === undefined || !(app.federatedSubjects ?? []).includes(subject)) {
      return {
        status: 400,
        code: 70021,
        description: `No federated identity credential of the app matches subject '${subject}'.`,
      };
    }
    return undefined;
  }
}
