// Tokens per identity and scope, kept in this worker and renewed before they
// expire. Concurrent requests of one worker share a single fetch.
//
// TODO(token lifecycle at gateway scale): one copy per worker means one
// fetch per worker; the shared-dict cache with a cross-worker lock and a
// background refresh replaces this module's internals, not its interface.

import * as semaphore from "ngx.semaphore";
import type { Token, TokenError, TokenSource } from "./identity/source";


// MSAL and the Azure SDKs count a token as expired this long before it does.
const REFRESH_MARGIN_SECONDS = 300;

// Tokens that live longer than this are renewed at half their life.
const LONG_LIVED_SECONDS = 2 * 3600;

// Still worth sending when a renewal failed: at least this much life left.
const MIN_USABLE_SECONDS = 5;

// A request waits this long at most for another request's fetch.
const WAIT_SECONDS = 10;


interface Entry {
  token: Token;
  refresh_at: number;
}

interface Flight {
  done: semaphore.Semaphore;
  waiting: number;
  token?: Token;
  error?: TokenError;
}


const entries = new LuaTable<string, Entry>();
const flights = new LuaTable<string, Flight>();


/** When a token fetched at `now` should be renewed, following Azure's rules. */
export function refresh_point(token: Token, now: number): number {
  if (token.refresh_at !== undefined) {
    return token.refresh_at;
  }
  const life = token.expires_at - now;
  if (life > LONG_LIVED_SECONDS) {
    return now + life / 2;
  }
  return token.expires_at - math.min(REFRESH_MARGIN_SECONDS, life / 2);
}


function usable(entry: Entry | undefined, now: number): entry is Entry {
  return entry !== undefined && entry.token.expires_at - now >= MIN_USABLE_SECONDS;
}


function wait_for(flight: Flight): LuaMultiReturn<[Token] | [undefined, TokenError | string]> {
  flight.waiting += 1;
  const [ok, err] = flight.done.wait(WAIT_SECONDS);
  if (ok === undefined) {
    return $multi(undefined, `failed to wait for a token: ${err}`);
  }
  if (flight.token !== undefined) {
    return $multi(flight.token);
  }
  return $multi(undefined, flight.error ?? "failed to get a token");
}


function fetch_once(source: TokenSource, now: number): LuaMultiReturn<[Token] | [undefined, TokenError | string]> {
  const [done, sema_err] = semaphore.new(0);
  if (done === undefined) {
    return $multi(undefined, `failed to create a semaphore: ${sema_err}`);
  }
  const flight: Flight = { done, waiting: 0 };
  flights.set(source.cache_key, flight);

  const started = ngx.now();
  const [token, error] = source.fetch();
  flights.delete(source.cache_key);
  ngx.update_time();
  if (token !== undefined) {
    kong.log.info(
      "got a token from ", source.label, " for ", source.identity, " at ", source.endpoint_host, " in ",
      math.floor((ngx.now() - started) * 1000), " ms, valid for ", math.floor(token.expires_at - ngx.now()), " s",
    );
    entries.set(source.cache_key, { token, refresh_at: refresh_point(token, now) });
    flight.token = token;
  } else {
    flight.error = error;
  }
  if (flight.waiting > 0) {
    done.post(flight.waiting);
  }

  if (token !== undefined) {
    return $multi(token);
  }
  return $multi(undefined, error);
}


/**
 * A token for the source: the cached one until its refresh point, else a new
 * one. When renewing fails while the cached token is still valid, the cached
 * token is returned and the failure logged. Yields.
 */
export function get_token(source: TokenSource): LuaMultiReturn<[Token] | [undefined, TokenError | string]> {
  const now = ngx.now();
  const entry = entries.get(source.cache_key);
  if (entry !== undefined && now < entry.refresh_at) {
    return $multi(entry.token);
  }

  const flight = flights.get(source.cache_key);
  const [token, error] = flight !== undefined ? wait_for(flight) : fetch_once(source, now);
  if (token !== undefined) {
    return $multi(token);
  }

  if (usable(entry, ngx.now())) {
    kong.log.warn(
      "failed to renew the token of ", source.label, " (", source.identity, "): ",
      typeof error === "string" ? error : error.detail,
      "; using the current one, valid for ", math.floor(entry.token.expires_at - ngx.now()), " s more",
    );
    return $multi(entry.token);
  }
  return $multi(undefined, error);
}


/** Forgets a token Azure refused, so that the next request fetches another. */
export function evict(source: TokenSource, access_token: string): void {
  const entry = entries.get(source.cache_key);
  if (entry !== undefined && entry.token.access_token === access_token) {
    entries.delete(source.cache_key);
  }
}
