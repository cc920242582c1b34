/** @noSelfInFile */

// lua-cjson's safe interface: failures come back as values, never thrown.

declare type JsonValue = string | number | boolean | NgxNull | JsonObject | JsonArray;
declare type JsonObject = LuaTable<string, JsonValue>;
declare type JsonArray = LuaTable<number, JsonValue>;

declare module "cjson.safe" {
  // An export list below makes every other name private unless it says export.
  export function encode(value: unknown): LuaMultiReturn<[string] | [undefined, string]>;
  export function decode(text: string): LuaMultiReturn<[JsonValue] | [undefined, string]>;
  /** Marks a table so that it encodes as a JSON array even when empty. */
  export const array_mt: LuaMetatable<LuaTable>;
  export const empty_array: JsonArray;
  const null_: NgxNull;
  export { null_ as null };
}
