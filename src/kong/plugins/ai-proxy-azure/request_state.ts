// State a module keeps for one request, across its phases. Kept in a weak
// table keyed by the request's kong.ctx.plugin table, which lives exactly as
// long as the request, so nothing needs clearing.

export interface RequestScoped<T extends object> {
  /** This request's state, made on first use. */
  get(): T;
  /** This request's state if a phase made it, without making it. */
  peek(): T | undefined;
}


export function request_scoped<T extends object>(create: () => T): RequestScoped<T> {
  const states = setmetatable(new LuaTable<object, T>(), { __mode: "k" });
  return {
    get: () => {
      const request = kong.ctx.plugin;
      let current = states.get(request);
      if (current === undefined) {
        current = create();
        states.set(request, current);
      }
      return current;
    },
    peek: () => states.get(kong.ctx.plugin),
  };
}


/**
 * The client's body, up to max_request_body_size. Kong spools a body over
 * client_body_buffer_size to a file; since 3.8 it reads the file when the size
 * is allowed, so such a body is not refused for where nginx kept it.
 */
export function read_body(conf: { max_request_body_size: number }): LuaMultiReturn<[string] | [undefined, string]> {
  return kong.request.get_raw_body(conf.max_request_body_size);
}
