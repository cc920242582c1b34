// RS256 JSON Web Tokens with node:crypto: signing, signature checks and JWKS.

import { createHash, generateKeyPair, sign, verify, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

import { isRecord } from "./http-util.ts";
import type { JsonObject } from "./types.ts";


export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface Jwk {
  kty: string;
  use: "sig";
  alg: "RS256";
  kid: string;
  n: string;
  e: string;
}

export type DecodedJwt =
  | { ok: true; header: Record<string, unknown>; claims: Record<string, unknown> }
  /** `claims` is there when the payload could be read: what the token claims, unproven. */
  | { ok: false; reason: string; claims?: Record<string, unknown> };


function encodeSegment(value: JsonObject): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}


function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}


const generateRsaKeyPair = promisify(generateKeyPair);


/** Generated off the main thread: an RSA key takes a noticeable part of a second. */
export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateRsaKeyPair("rsa", { modulusLength: 2048 });
  const der = publicKey.export({ type: "spki", format: "der" });
  const kid = createHash("sha256").update(der).digest("base64url").slice(0, 27);
  return { kid, privateKey, publicKey };
}


export function signJwt(key: SigningKey, claims: JsonObject): string {
  const header = encodeSegment({ typ: "JWT", alg: "RS256", kid: key.kid });
  const payload = encodeSegment(claims);
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), key.privateKey);
  return `${header}.${payload}.${signature.toString("base64url")}`;
}


/**
 * Checks the form and the RS256 signature against `keys` (chosen by `kid`).
 * Claims are left to the caller: each verifier has its own rules for them.
 */
export function decodeAndVerifyJwt(token: string, keys: readonly SigningKey[]): DecodedJwt {
  const segments = token.split(".");
  if (segments.length !== 3) {
    return { ok: false, reason: "token is not a compact JWS" };
  }
  const [headerSegment, payloadSegment, signatureSegment] = segments;
  const header = decodeSegment(headerSegment);
  const claims = decodeSegment(payloadSegment);
  if (header === undefined || claims === undefined) {
    return { ok: false, reason: "token header or payload is not JSON" };
  }
  if (header.alg !== "RS256") {
    return { ok: false, reason: `unsupported algorithm ${String(header.alg)}`, claims };
  }
  const key = keys.find((candidate) => candidate.kid === header.kid);
  if (key === undefined) {
    return { ok: false, reason: "unknown signing key", claims };
  }
  const signed = Buffer.from(`${headerSegment}.${payloadSegment}`);
  const signature = Buffer.from(signatureSegment, "base64url");
  if (!verify("sha256", signed, key.publicKey, signature)) {
    return { ok: false, reason: "invalid signature", claims };
  }
  return { ok: true, header, claims };
}


export function publicJwk(key: SigningKey): Jwk {
  const exported = key.publicKey.export({ format: "jwk" });
  if (typeof exported.n !== "string" || typeof exported.e !== "string") {
    throw new Error("failed to export the signing key as an RSA JWK");
  }
  return { kty: "RSA", use: "sig", alg: "RS256", kid: key.kid, n: exported.n, e: exported.e };
}


/** Checks `exp` and `nbf` against now (epoch seconds); returns a reason or undefined. */
export function checkLifetime(claims: Record<string, unknown>, now: number): string | undefined {
  if (typeof claims.exp !== "number") {
    return "token has no exp claim";
  }
  if (claims.exp <= now) {
    return "token expired";
  }
  if (typeof claims.nbf === "number" && claims.nbf > now) {
    return "token not yet valid";
  }
  return undefined;
}


export function audiences(claims: Record<string, unknown>): string[] {
  if (typeof claims.aud === "string") {
    return [claims.aud];
  }
  if (Array.isArray(claims.aud)) {
    const listed: unknown[] = claims.aud;
    return listed.filter((value): value is string => typeof value === "string");
  }
  return [];
}
