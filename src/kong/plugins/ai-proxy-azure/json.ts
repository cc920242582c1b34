// Narrowing decoded JSON without casts, and the codec for the bodies the
// plugin decodes and sends on.

import * as cjson from "cjson.safe";

/** True for a decoded JSON object (a Lua table; arrays are tables too, so check what you read). */
export function is_object(value: JsonValue | undefined): value is JsonObject {
  return type(value) === "table";
}


/**
 * A codec of the plugin's own for client bodies it decodes and encodes again.
 * With the shared cjson an empty array would come back as `{}` (`"tools": []`
 * sent on as `"tools": {}`); OpenResty's cjson, which Kong ships, can mark
 * decoded arrays so they stay arrays. Numbers keep 16 digits, as Kong sets for
 * its own cjson, so a 16-digit `seed` is not rounded. Where the library lacks
 * either (Debian's cjson, in the local runtime), its defaults stay.
 */
function body_codec(): cjson.Codec {
  const codec = cjson.new();
  codec.decode_array_with_array_mt?.(true);
  if (!pcall(codec.encode_number_precision, 16)[0]) {
    codec.encode_number_precision(14);
  }
  return codec;
}

export const body_json = body_codec();


/** True for a decoded JSON array: marked by the codec, or holding a first element. */
export function is_array(value: JsonValue | undefined): boolean {
  if (type(value) !== "table") {
    return false;
  }
  const table = value as LuaTable<number, unknown>;
  const marker = body_json.array_mt;
  const metatable: object | undefined = getmetatable(table);
  return (marker !== undefined && metatable === marker) || table.get(1) !== undefined;
}
