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

  /** A codec with settings of its own, as `cjson.safe.new()` makes it. */
  export interface Codec {
    encode(this: void, value: unknown): LuaMultiReturn<[string] | [undefined, string]>;
    decode(this: void, text: string): LuaMultiReturn<[JsonValue] | [undefined, string]>;
    /** Significant digits of encoded numbers; throws past the library's maximum (14, or 16 in OpenResty's). */
    encode_number_precision(this: void, digits: number): void;
    /** OpenResty's lua-cjson only: decoded arrays carry array_mt, so `[]` encodes back as `[]`. */
    decode_array_with_array_mt?: (this: void, enabled: boolean) => void;
    array_mt?: object;
  }
  const new_: (this: void) => Codec;
  export { new_ as new };
}
