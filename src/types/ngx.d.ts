/** @noSelfInFile */

// The part of OpenResty's `ngx` API the plugin uses, as lua-nginx-module and
// lua-resty-core document it. Calls that can fail return the value, or
// `undefined` and a reason.

declare type NgxNull = { readonly __ngxNullBrand: unique symbol };

declare type NgxLogLevel = number & { readonly __ngxLogLevelBrand: unique symbol };

/** A shared memory zone declared with `lua_shared_dict`. */
declare interface NgxSharedDict {
  get(this: NgxSharedDict, key: string): LuaMultiReturn<[string | number | boolean | undefined, number | undefined]>;
  get_stale(
    this: NgxSharedDict,
    key: string,
  ): LuaMultiReturn<[string | number | boolean | undefined, number | undefined, boolean]>;
  /** Returns ok, err, forcible. */
  set(
    this: NgxSharedDict,
    key: string,
    value: string | number | boolean,
    exptime?: number,
    flags?: number,
  ): LuaMultiReturn<[boolean, string | undefined, boolean]>;
  /** Like set, but fails with "exists" when the key is present. */
  add(
    this: NgxSharedDict,
    key: string,
    value: string | number | boolean,
    exptime?: number,
    flags?: number,
  ): LuaMultiReturn<[boolean, string | undefined, boolean]>;
  incr(
    this: NgxSharedDict,
    key: string,
    value: number,
    init?: number,
    init_ttl?: number,
  ): LuaMultiReturn<[number] | [undefined, string]>;
  delete(this: NgxSharedDict, key: string): void;
  /** Remaining time to live in seconds; 0 for keys that never expire. */
  ttl(this: NgxSharedDict, key: string): LuaMultiReturn<[number] | [undefined, string]>;
}

declare interface NgxTcpSocket {
  connect(this: NgxTcpSocket, host: string, port: number): LuaMultiReturn<[1] | [undefined, string]>;
  /** With `verify` true the peer certificate is checked against lua_ssl_trusted_certificate. */
  sslhandshake(
    this: NgxTcpSocket,
    reused_session: undefined | false,
    server_name: string,
    verify: boolean,
  ): LuaMultiReturn<[true] | [undefined, string]>;
  send(this: NgxTcpSocket, data: string): LuaMultiReturn<[number] | [undefined, string]>;
  /** A pattern ("*l", "*a") or a byte count. */
  receive(
    this: NgxTcpSocket,
    pattern: "*l" | "*a" | number,
  ): LuaMultiReturn<[string] | [undefined, string, string | undefined]>;
  /** Up to max bytes, as soon as any arrive. */
  receiveany(this: NgxTcpSocket, max: number): LuaMultiReturn<[string] | [undefined, string]>;
  /** One timeout, in milliseconds, for the operations that follow (connect, handshake, send, receive). */
  settimeout(this: NgxTcpSocket, timeout_ms: number): void;
  settimeouts(this: NgxTcpSocket, connect_ms: number, send_ms: number, read_ms: number): void;
  setkeepalive(this: NgxTcpSocket, idle_ms?: number, pool_size?: number): LuaMultiReturn<[1] | [undefined, string]>;
  getreusedtimes(this: NgxTcpSocket): LuaMultiReturn<[number] | [undefined, string]>;
  close(this: NgxTcpSocket): LuaMultiReturn<[1] | [undefined, string]>;
}

declare type NgxTimerHandler<A extends unknown[]> = (premature: boolean, ...args: A) => void;

declare type NgxRegexCaptures = LuaTable<number | string, string | false>;

declare namespace ngx {
  /** @customName null */
  const null_: NgxNull;

  const STDERR: NgxLogLevel;
  const EMERG: NgxLogLevel;
  const ALERT: NgxLogLevel;
  const CRIT: NgxLogLevel;
  const ERR: NgxLogLevel;
  const WARN: NgxLogLevel;
  const NOTICE: NgxLogLevel;
  const INFO: NgxLogLevel;
  const DEBUG: NgxLogLevel;

  function log(level: NgxLogLevel, ...args: unknown[]): void;

  /** Cached epoch seconds with milliseconds as the fraction. */
  function now(): number;
  function time(): number;
  function update_time(): void;
  /** Yields the current light thread; not allowed in header or body filters. */
  function sleep(seconds: number): void;

  function get_phase(): string;

  function encode_args(args: LuaTable<string, string | boolean | string[]>): string;
  function decode_args(query: string, max_args?: number): LuaTable<string, string | boolean | string[]>;
  function escape_uri(value: string, type?: 0 | 2): string;
  function unescape_uri(value: string): string;
  /** The MD5 digest of value, as 32 lower-case hex digits. */
  function md5(value: string): string;
  function encode_base64(value: string, no_padding?: boolean): string;
  function decode_base64(value: string): string | undefined;

  /** Per-request table, shared by every phase of one request. */
  const ctx: LuaTable<string, unknown>;

  /**
   * Nginx variables; a read of an unset variable gives undefined.
   * @customName var
   */
  const vars: LuaTable<string, string | undefined>;

  /** In body_filter: [chunk, eof]. Assigning arg[1] replaces the chunk. */
  const arg: { 1: string | undefined; 2: boolean };

  namespace shared {
    const kong: NgxSharedDict | undefined;
    const kong_locks: NgxSharedDict | undefined;
  }

  namespace socket {
    function tcp(): NgxTcpSocket;
  }

  namespace timer {
    function at<A extends unknown[]>(
      delay: number,
      handler: NgxTimerHandler<A>,
      ...args: A
    ): LuaMultiReturn<[true] | [undefined, string]>;
  }

  namespace worker {
    function id(): number | undefined;
    function pid(): number;
    function count(): number;
    function exiting(): boolean;
  }

  namespace re {
    function find(
      subject: string,
      regex: string,
      options?: string,
    ): LuaMultiReturn<[number, number] | [undefined, undefined, string | undefined]>;
    function match(
      subject: string,
      regex: string,
      options?: string,
    ): LuaMultiReturn<[NgxRegexCaptures] | [undefined, string | undefined]>;
  }
}
