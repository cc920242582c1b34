/** @noSelfInFile */

// The Kong PDK functions this plugin calls, and nothing more. Based on the PDK
// reference for Kong 3.x. The local runtime (spec/support/runtime) implements
// exactly this list; keep the two in step.

declare type KongHeaderValue = string | string[];

/** A value kong.log.set_serialize_value accepts: scalars, and tables of them with string keys. */
declare type KongSerializeValue = string | number | boolean | KongSerializeTable;
declare type KongSerializeTable = { [key: string]: KongSerializeValue | undefined };

/** What Kong requires of a plugin's handler module; Kong calls phases as methods. */
declare interface KongPluginHandler {
  PRIORITY: number;
  VERSION: string;
}

declare namespace kong {
  /** Log at a level; Kong prefixes the plugin's name by itself. */
  namespace log {
    function err(...args: unknown[]): void;
    function warn(...args: unknown[]): void;
    function notice(...args: unknown[]): void;
    function info(...args: unknown[]): void;
    function debug(...args: unknown[]): void;
    /**
     * Sets (or with undefined removes) a field of the table kong.log.serialize
     * gives log plugins; dots in the key name nested tables. mode "add" sets
     * only a missing field, "replace" only an existing one.
     */
    function set_serialize_value(
      key: string,
      value: KongSerializeValue | undefined,
      options?: { mode: "set" | "add" | "replace" },
    ): void;
  }

  namespace request {
    /** The first value of a request header, case-insensitive; undefined when absent. */
    function get_header(name: string): string | undefined;
    function get_path(): string;
    function get_raw_query(): string;
    function get_method(): string;
    /**
     * The whole body, or undefined and a reason. A body over
     * client_body_buffer_size is spooled to a file, which Kong 3.8 and later
     * read when it is at most max_allowed_file_size bytes; earlier versions
     * ignore the argument and never read such a body.
     */
    function get_raw_body(max_allowed_file_size?: number): LuaMultiReturn<[string] | [undefined, string]>;
  }

  namespace service {
    /** Sets the upstream host and port; also sets the Host header, as Kong does without preserve_host. */
    function set_target(host: string, port: number): void;

    namespace request {
      function set_scheme(scheme: "http" | "https"): void;
      function set_path(path: string): void;
      function set_raw_query(query: string): void;
      function set_header(name: string, value: string): void;
      function clear_header(name: string): void;
      function set_raw_body(body: string): void;
    }

    namespace response {
      /** The status the upstream answered with; undefined when no upstream answered. */
      function get_status(): number | undefined;
    }
  }

  namespace response {
    /**
     * Ends the request. A table body is encoded as JSON with
     * `Content-Type: application/json; charset=utf-8`.
     */
    function exit(status: number, body?: string | object, headers?: LuaTable<string, KongHeaderValue>): never;
    function set_header(name: string, value: string): void;
    function clear_header(name: string): void;
    /** The first value of a response header as the client will get it; undefined when absent. */
    function get_header(name: string): string | undefined;
  }

  namespace ctx {
    /** A table private to this plugin for the life of one request. */
    const plugin: LuaTable<string, unknown>;
  }
}
