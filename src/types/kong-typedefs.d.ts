/** @noSelfInFile */

// kong.db.schema.typedefs: the shared field definitions plugin schemas use.

declare module "kong.db.schema.typedefs" {
  /** The protocols field for plugins that run on HTTP and HTTPS services. */
  const protocols_http: object;
  /** A string field that must be an http(s) URL. */
  const url: object;
}
