// Narrowing decoded JSON without casts.

/** True for a decoded JSON object (a Lua table; arrays are tables too, so check what you read). */
export function is_object(value: JsonValue | undefined): value is JsonObject {
  return type(value) === "table";
}
