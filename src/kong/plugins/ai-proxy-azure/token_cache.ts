// Tokens per identity, scope and authority, shared by every worker of a node.
//
// - Each worker keeps a copy of the token and reads it with no locking until
//   the token's refresh point: the warm path is a table lookup.
// - Kong's `kong` shared dict holds the token for all workers; a fetch for a
//   key runs in one place at a time, under a lock in `kong_locks`.
// - Past the refresh point, one timer per node renews the token while
//   requests go on with the current one; it retries with backoff and keeps
//   the current token while it is valid.
// - With no valid token, a request fetches (or waits for the fetch under way)
//   for a bounded time. After a failure, requests fail at once with the same
//   error for a while, so a broken identity costs its endpoint at most about
//   one request a second per node.
//
// Access and timers may call get_token (it yields); header_filter may call
// evict (it does not).

import * as cjson from "cjson.safe";
import type { Token, TokenError, TokenSource } from "./identity/source";
import { is_object } from "./json";


// MSAL and the Azure SDKs count a token as expired this long before it does.
const REFRESH_MARGIN_SECONDS = 300;

// Tokens that live longer than this are renewed at half their life.
const LONG_LIVED_SECONDS = 2 * 3600;

// A token is sent only while it has at least this much life left.
const MIN_USABLE_SECONDS = 5;

// Past the refresh point, a worker looks at the shared copy this often.
const RECHECK_SECONDS = 1;

// Background retries: exponential from this, capped, with 50-100 % jitter.
const RETRY_BASE_SECONDS = 1;
const RETRY_MAX_SECONDS = 30;

// In a request, transient failures are retried this soon, while time remains.
const REQUEST_RETRY_SECONDS = 0.2;

// Fail-fast window after failed fetches: 1 s, doubling, capped.
const FAILURE_WINDOW_MAX_SECONDS = 30;
const FAILURE_COUNT_TTL_SECONDS = 300;

// How often a waiting request looks whether the fetch under way finished.
const POLL_SECONDS = 0.01;

const KEY_PREFIX = "ai-proxy-azure:";


interface Entry {
  token: Token;
  refresh_at: number;
  /** Until then this worker uses its copy without looking further. */
  check_at: number;
}

interface Failure {
  message: string;
  detail: string;
  kind: TokenError["kind"];
  source: string;
}

type Outcome = LuaMultiReturn<[Token] | [undefined, TokenError | string]>;


const entries = new LuaTable<string, Entry>();


function shared_dict(): NgxSharedDict {
  const dict = ngx.shared.kong;
  if (dict === undefined) {
    error("the lua_shared_dict 'kong' is not declared", 0);
  }
  return dict;
}


function locks_dict(): NgxSharedDict {
  const dict = ngx.shared.kong_locks;
  if (dict === undefined) {
    error("the lua_shared_dict 'kong_locks' is not declared", 0);
  }
  return dict;
}


/** When a token fetched at `now` should be renewed, following Azure's rules. */
export function refresh_point(token: Token, now: number): number {
  if (token.refresh_at !== undefined) {
    return math.min(token.refresh_at, token.expires_at - MIN_USABLE_SECONDS);
  }
  const life = token.expires_at - now;
  if (life > LONG_LIVED_SECONDS) {
    return now + life / 2;
  }
  return token.expires_at - math.min(REFRESH_MARGIN_SECONDS, life / 2);
}


/** Seconds before background attempt number `attempt` (0 for the first retry). */
export function retry_delay(attempt: number, retry_after: number | undefined): number {
  const exponential = math.min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** attempt);
  const jittered = exponential * (0.5 + math.random() * 0.5);
  return retry_after !== undefined ? math.max(jittered, retry_after) : jittered;
}


/** How long requests fail at once after `failures` failed fetches in a row. */
export function failure_window(failures: number, retry_after: number | undefined): number {
  const window = math.min(FAILURE_WINDOW_MAX_SECONDS, 2 ** math.max(failures - 1, 0));
  return retry_after !== undefined ? math.min(math.max(window, retry_after), 2 * FAILURE_WINDOW_MAX_SECONDS) : window;
}


function token_key(source: TokenSource): string {
  return `${KEY_PREFIX}token:${source.cache_key}`;
}


function usable(token: Token, now: number): boolean {
  return token.expires_at - now >= MIN_USABLE_SECONDS;
}


function read_shared(source: TokenSource): Token | undefined {
  const [value] = shared_dict().get(token_key(source));
  if (typeof value !== "string") {
    return undefined;
  }
  const [expires_at, refresh_at, access_token] = string.match(value, "^([%d.]+) ([%d.]+) (.+)$");
  if (expires_at === undefined || refresh_at === undefined || access_token === undefined) {
    return undefined;
  }
  return { access_token, expires_at: tonumber(expires_at) ?? 0, refresh_at: tonumber(refresh_at) };
}


function remember(source: TokenSource, token: Token, refresh_at: number): Entry {
  const entry = { token, refresh_at, check_at: refresh_at };
  entries.set(source.cache_key, entry);
  return entry;
}


function store(source: TokenSource, token: Token, now: number): void {
  const refresh_at = refresh_point(token, now);
  remember(source, token, refresh_at);
  const value = `${string.format("%.3f", token.expires_at)} ${string.format("%.3f", refresh_at)} ${token.access_token}`;
  const [ok, err] = shared_dict().set(token_key(source), value, token.expires_at - now);
  if (!ok) {
    kong.log.warn("failed to share the token of ", source.label, " with other workers: ", err);
  }
  const dict = shared_dict();
  dict.delete(`${KEY_PREFIX}failures:${source.cache_key}`);
  dict.delete(`${KEY_PREFIX}failure:${source.cache_key}`);
}


function read_failure(source: TokenSource): Failure | undefined {
  const [value] = shared_dict().get(`${KEY_PREFIX}failure:${source.cache_key}`);
  if (typeof value !== "string") {
    return undefined;
  }
  const [fields] = cjson.decode(value);
  if (!is_object(fields)) {
    return undefined;
  }
  const [message, detail, kind, source_label] = [
    fields.get("message"),
    fields.get("detail"),
    fields.get("kind"),
    fields.get("source"),
  ];
  if (
    typeof message !== "string" ||
    typeof detail !== "string" ||
    typeof source_label !== "string" ||
    (kind !== "unavailable" && kind !== "refused" && kind !== "transient")
  ) {
    return undefined;
  }
  return { message, detail, kind, source: source_label };
}


function as_failure(source: TokenSource, error: TokenError | string): Failure {
  if (typeof error === "string") {
    return { message: `${source.label} gave no token`, detail: error, kind: "transient", source: source.label };
  }
  return { message: error.message, detail: error.detail, kind: error.kind, source: error.source };
}


function record_failure(source: TokenSource, error: TokenError | string): void {
  const dict = shared_dict();
  const [failures] = dict.incr(`${KEY_PREFIX}failures:${source.cache_key}`, 1, 0, FAILURE_COUNT_TTL_SECONDS);
  const retry_after = typeof error === "string" ? undefined : error.retry_after;
  const window = failure_window(failures ?? 1, retry_after);
  const [encoded] = cjson.encode(as_failure(source, error));
  if (encoded !== undefined) {
    dict.set(`${KEY_PREFIX}failure:${source.cache_key}`, encoded, window);
  }
}


function failure_error(failure: Failure): TokenError {
  return {
    kind: failure.kind,
    source: failure.source,
    message: failure.message,
    detail: `${failure.detail} (an earlier attempt; the next one is held back)`,
  };
}


function log_fetched(source: TokenSource, token: Token, started: number): void {
  ngx.update_time();
  const now = ngx.now();
  kong.log.info(
    "got a token from ", source.label, " for ", source.identity, " at ", source.endpoint_host, " in ",
    math.floor((now - started) * 1000), " ms, valid for ", math.floor(token.expires_at - now), " s",
  );
}


function code_of(error: TokenError): string {
  return error.code ?? "none";
}


/** One line per failed fetch: who, where, how long it took, and what the endpoint said. */
function log_fetch_failed(source: TokenSource, error: TokenError, started: number, retrying: boolean): void {
  const log = error.kind === "transient" && retrying ? kong.log.warn : kong.log.err;
  log(
    "failed to get a token from ", source.label, " for ", source.identity, " at ", source.endpoint_host, " in ",
    math.floor((ngx.now() - started) * 1000), " ms (error code: ", code_of(error), "): ", error.detail,
    retrying ? "; trying again" : "",
  );
}


function fetch_lock_key(source: TokenSource): string {
  return `${KEY_PREFIX}fetch:${source.cache_key}`;
}


/** One fetch per key at a time on the node, whether a request or a renewal makes it. */
function try_fetch_lock(source: TokenSource, seconds: number): boolean {
  const [locked] = locks_dict().add(fetch_lock_key(source), true, seconds);
  return locked;
}


function release_fetch_lock(source: TokenSource): void {
  locks_dict().delete(fetch_lock_key(source));
}


/** Fetches in the request path: retries transient failures while the deadline allows. */
function fetch_in_request(source: TokenSource, deadline: number): Outcome {
  for (;;) {
    const started = ngx.now();
    const [token, error] = source.fetch();
    if (token !== undefined) {
      log_fetched(source, token, started);
      store(source, token, ngx.now());
      return $multi(token);
    }
    ngx.update_time();
    const retry_at = ngx.now() + math.max(REQUEST_RETRY_SECONDS, error.retry_after ?? 0);
    const retrying = error.kind === "transient" && retry_at < deadline;
    log_fetch_failed(source, error, started, retrying);
    if (!retrying) {
      record_failure(source, error);
      return $multi(undefined, error);
    }
    ngx.sleep(retry_at - ngx.now());
  }
}


/** The end of a fetch that ran elsewhere: the token it shared, or the failure it recorded. */
type OtherFetch = { token: Token; error?: undefined } | { token?: undefined; error: TokenError };


/**
 * What a fetch that ran elsewhere left for everyone: its usable token, or the
 * failure that holds further fetches back; undefined while neither is there.
 */
function left_by_other_fetch(source: TokenSource): OtherFetch | undefined {
  const shared = read_shared(source);
  const now = ngx.now();
  if (shared !== undefined && usable(shared, now)) {
    remember(source, shared, shared.refresh_at ?? refresh_point(shared, now));
    return { token: shared };
  }
  const failure = read_failure(source);
  return failure === undefined ? undefined : { error: failure_error(failure) };
}


function outcome_of(other: OtherFetch): Outcome {
  if (other.token !== undefined) {
    return $multi(other.token);
  }
  return $multi(undefined, other.error);
}


/** With no valid token: fetch, or wait for the fetch another request started. */
function fetch_or_wait(source: TokenSource, wait_seconds: number): Outcome {
  const deadline = ngx.now() + wait_seconds;

  for (;;) {
    if (try_fetch_lock(source, wait_seconds + 1)) {
      // The fetch that held the lock may have ended after this request last
      // looked: its token or its failure serves, and no second fetch is sent.
      const other = left_by_other_fetch(source);
      if (other !== undefined) {
        release_fetch_lock(source);
        return outcome_of(other);
      }
      const [token, error] = fetch_in_request(source, deadline);
      release_fetch_lock(source);
      if (token !== undefined) {
        return $multi(token);
      }
      return $multi(undefined, error);
    }

    ngx.sleep(POLL_SECONDS);
    const other = left_by_other_fetch(source);
    if (other !== undefined) {
      return outcome_of(other);
    }
    if (ngx.now() >= deadline) {
      return $multi(undefined, `failed to get a token within ${wait_seconds} s: the fetch under way did not finish`);
    }
  }
}


/** Renews a token in the background; runs in a timer, one per key per node. */
function refresh(premature: boolean, source: TokenSource, fetch_seconds: number): void {
  const lock_key = `${KEY_PREFIX}refresh:${source.cache_key}`;
  const locks = locks_dict();
  let attempt = 0;

  while (!premature && !ngx.worker.exiting()) {
    if (!try_fetch_lock(source, fetch_seconds + 1)) {
      // A request is fetching already (its token ran out meanwhile): its result serves.
      break;
    }
    const started = ngx.now();
    const [token, error] = source.fetch();
    ngx.update_time();
    if (token !== undefined) {
      // Shared before the lock goes, so a request that takes the lock next finds it.
      store(source, token, ngx.now());
      release_fetch_lock(source);
      log_fetched(source, token, started);
      break;
    }
    release_fetch_lock(source);

    const current = read_shared(source) ?? entries.get(source.cache_key)?.token;
    const remaining = current === undefined ? 0 : current.expires_at - ngx.now();
    kong.log.warn(
      "failed to renew the token of ", source.label, " for ", source.identity, " at ", source.endpoint_host,
      " in ", math.floor((ngx.now() - started) * 1000), " ms (error code: ", code_of(error), "): ", error.detail,
      "; requests go on with the current token, valid for ", math.floor(remaining), " s more",
    );
    const delay = retry_delay(attempt, error.retry_after);
    if (error.kind === "refused" || remaining - delay < MIN_USABLE_SECONDS) {
      break;
    }
    locks.set(lock_key, true, delay + 60);
    ngx.sleep(delay);
    attempt += 1;
  }
  locks.delete(lock_key);
}


function start_refresh(source: TokenSource, fetch_seconds: number): void {
  const lock_key = `${KEY_PREFIX}refresh:${source.cache_key}`;
  const [locked] = locks_dict().add(lock_key, true, 60);
  if (!locked) {
    return;
  }
  const [ok, err] = ngx.timer.at(0, refresh, source, fetch_seconds);
  if (ok === undefined) {
    locks_dict().delete(lock_key);
    kong.log.err("failed to start renewing the token of ", source.label, ": ", err);
  }
}


/**
 * A token for the source. Warm: this worker's copy. Past the refresh point:
 * the current token, with a renewal started in the background. With no valid
 * token: waits at most wait_seconds for a fetch (which the source's own
 * timeout keeps within that). Yields.
 */
export function get_token(source: TokenSource, wait_seconds: number): Outcome {
  const now = ngx.now();
  let entry = entries.get(source.cache_key);
  if (entry !== undefined && now < entry.check_at) {
    return $multi(entry.token);
  }

  const shared = read_shared(source);
  if (shared !== undefined && (entry === undefined || shared.access_token !== entry.token.access_token)) {
    entry = remember(source, shared, shared.refresh_at ?? refresh_point(shared, now));
  }

  if (entry !== undefined && usable(entry.token, now)) {
    if (now >= entry.refresh_at) {
      start_refresh(source, wait_seconds);
      entry.check_at = now + RECHECK_SECONDS;
    }
    return $multi(entry.token);
  }

  const failure = read_failure(source);
  if (failure !== undefined) {
    return $multi(undefined, failure_error(failure));
  }
  return fetch_or_wait(source, wait_seconds);
}


/**
 * Forgets a token Azure refused, in this worker and, if it is still the
 * shared one, for the node, and fetches its replacement in the background.
 * Other workers still holding it drop it on their own 401.
 */
export function evict(source: TokenSource, access_token: string, wait_seconds: number): void {
  const entry = entries.get(source.cache_key);
  if (entry !== undefined && entry.token.access_token === access_token) {
    entries.delete(source.cache_key);
  }
  const shared = read_shared(source);
  if (shared !== undefined && shared.access_token === access_token) {
    shared_dict().delete(token_key(source));
    // The first worker to hear of it fetches the replacement at once, in the
    // background: whichever worker takes the next request finds it there.
    start_refresh(source, wait_seconds);
  }
}
