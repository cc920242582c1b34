-- Validates a plugin entry against its schema module the way kong.db.schema
-- does for the subset plugins use, and returns the config a handler receives.
--
-- Finding (Kong 3.x, kong/db/schema/init.lua, kong/db/dao/init.lua,
-- kong/runloop/plugins_iterator.lua): on insert Kong stores ngx.null for an
-- absent optional field that has no default; the plugins iterator then reads
-- plugins with DAO:each without the `nulls` option, whose "select" pass turns
-- every ngx.null into nil. A handler therefore sees nil, never ngx.null, and so
-- does a handler fed by this module. An explicit null in the input counts as
-- "unset": it gets no default and also reaches the handler as nil.
--
-- Absent records (Entity.new_subschema and handle_missing_field): Kong marks
-- every record of a plugin schema `required` unless it says `required = false`.
-- An absent record takes its `default` if it has one; a required record is
-- built from {} so nested defaults apply (and nested required fields are then
-- reported missing); an optional record stays unset (nil for the handler).


local cjson_ok, cjson = pcall(require, "cjson")


local type = type
local pairs = pairs
local ipairs = ipairs
local next = next
local pcall = pcall
local tostring = tostring
local floor = math.floor
local concat = table.concat
local insert = table.insert
local sort = table.sort
local format = string.format
local find = string.find
local sub = string.sub


-- ngx.null and cjson.null are the same light userdata under OpenResty; plain
-- LuaJIT has no ngx, and a bare sentinel serves when cjson is missing too.
local null = (ngx and ngx.null)
  or (cjson_ok and cjson.null)
  or setmetatable({}, { __tostring = function() return "null" end })


local MESSAGES = {
  ARRAY = "expected an array",
  SET = "expected a set",
  MAP = "expected a map",
  RECORD = "expected a record",
  STRING = "expected a string",
  NUMBER = "expected a number",
  BOOLEAN = "expected a boolean",
  INTEGER = "expected an integer",
  FOREIGN = "expected a reference to an entity",
  REQUIRED = "required field missing",
  UNKNOWN = "unknown field",
  REQUIRED_FOR_ENTITY_CHECK = "field required for entity check",
}


local ENTITY_CHECK_MESSAGES = {
  at_least_one_of = "at least one of these fields must be non-empty: %s",
  conditional_at_least_one_of = "at least one of these fields must be non-empty: %s",
  only_one_of = "exactly one of these fields must be non-empty: %s",
  mutually_required = "all or none of these fields must be set: %s",
  mutually_exclusive = "only one or none of these fields must be set: %s",
  mutually_exclusive_sets = "these sets are mutually exclusive: %s",
  conditional = "failed conditional validation given value of field '%s'",
}


-- Field attributes that carry no validation here.
local METADATA_ATTRIBUTES = {
  type = true, required = true, default = true, description = true,
  encrypted = true, referenceable = true, nullable = true, err = true,
  elements = true, keys = true, values = true, fields = true,
  entity_checks = true, reference = true, on_delete = true, unique = true,
  auto = true, immutable = true, deprecation = true, examples = true,
  abstract = true, nilable = true, translate_backwards = true,
}


-- Value validators, in the order Kong runs them.
local VALIDATOR_ORDER = {
  "eq", "ne", "not_one_of", "one_of", "gt", "between",
  "len_eq", "len_min", "len_max",
  "starts_with", "not_match", "match_none", "match", "match_all", "match_any",
  "contains", "custom_validator",
}


local KNOWN_VALIDATORS = {}
for _, name in ipairs(VALIDATOR_ORDER) do
  KNOWN_VALIDATORS[name] = true
end


local function is_null(value)
  return value == null
end


local function is_reference(value)
  return type(value) == "string"
     and sub(value, 1, 9) == "{vault://"
     and sub(value, -1) == "}"
end


local function format_number(n)
  if n == floor(n) and n > -2^53 and n < 2^53 then
    return format("%d", n)
  end
  return tostring(n)
end


local function quoted_list(names)
  local quoted = {}
  for i, name in ipairs(names) do
    if type(name) == "table" then
      quoted[i] = "(" .. quoted_list(name) .. ")"
    else
      quoted[i] = "'" .. tostring(name) .. "'"
    end
  end
  return concat(quoted, ", ")
end


local function deep_copy(value)
  if type(value) ~= "table" or value == null then
    return value
  end
  local copy = {}
  for k, v in pairs(value) do
    copy[k] = deep_copy(v)
  end
  return copy
end


local function join_path(path, key)
  if path == "" then
    return tostring(key)
  end
  return path .. "." .. tostring(key)
end


local function is_sequence(value)
  local count, max = 0, 0
  for k in pairs(value) do
    if type(k) ~= "number" or k < 1 or k ~= floor(k) then
      return false
    end
    count = count + 1
    if k > max then
      max = k
    end
  end
  return count == max
end


-- A record definition lists its fields as { { name = def }, ... }.
local function each_field(record)
  local i = 0
  local fields = record.fields or {}
  return function()
    i = i + 1
    local item = fields[i]
    if item == nil then
      return nil
    end
    local name, def = next(item)
    return name, def
  end
end


local function find_field(record, name)
  for field_name, def in each_field(record) do
    if field_name == name then
      return def
    end
  end
  return nil
end


-- Field definition for a dotted name relative to a record.
local function find_nested_field(record, dotted)
  local dot = find(dotted, ".", 1, true)
  if not dot then
    return find_field(record, dotted)
  end
  local head = find_field(record, sub(dotted, 1, dot - 1))
  if head == nil or head.type ~= "record" then
    return nil
  end
  return find_nested_field(head, sub(dotted, dot + 1))
end


local function get_nested(tbl, dotted)
  if type(tbl) ~= "table" or tbl == null then
    return nil
  end
  local dot = find(dotted, ".", 1, true)
  if not dot then
    return tbl[dotted]
  end
  return get_nested(tbl[sub(dotted, 1, dot - 1)], sub(dotted, dot + 1))
end


local function set_nested(tbl, dotted, value)
  local dot = find(dotted, ".", 1, true)
  if not dot then
    tbl[dotted] = value
    return
  end
  local head = sub(dotted, 1, dot - 1)
  if type(tbl[head]) ~= "table" then
    tbl[head] = {}
  end
  set_nested(tbl[head], sub(dotted, dot + 1), value)
end


local function is_nonempty(value)
  return not (value == nil
              or value == null
              or value == ""
              or (type(value) == "table" and next(value) == nil))
end


-- Collected errors: one list of { path, message }, plus a path index so
-- entity checks can skip fields that already failed, as Kong's do.
local function new_errors()
  return { list = {}, paths = {} }
end


-- A field keeps its first error, as clearer than what later checks add;
-- entity check messages (`entity` true) pile up on their record's path.
local function add_error(errors, path, message, entity)
  for _, item in ipairs(errors.list) do
    if item.path == path and (item.message == message or not (entity or item.entity)) then
      return
    end
  end
  insert(errors.list, { path = path, message = message, entity = entity })
  errors.paths[path] = true
end


local function has_error_under(errors, path)
  for error_path in pairs(errors.paths) do
    if error_path == path
       or sub(error_path, 1, #path + 1) == path .. "."
       or sub(error_path, 1, #path + 1) == path .. "["
    then
      return true
    end
  end
  return false
end


local Validators = {}


function Validators.eq(value, wanted)
  if value == wanted then
    return true
  end
  return nil, "value must be " .. (wanted == null and "null" or tostring(wanted))
end


function Validators.ne(value, unwanted)
  if value ~= unwanted then
    return true
  end
  return nil, "value must not be " .. tostring(unwanted)
end


function Validators.one_of(value, options)
  for _, option in ipairs(options) do
    if value == option then
      return true
    end
  end
  local names = {}
  for i, option in ipairs(options) do
    names[i] = tostring(option)
  end
  return nil, "expected one of: " .. concat(names, ", ")
end


function Validators.not_one_of(value, options)
  for _, option in ipairs(options) do
    if value == option then
      local names = {}
      for i, name in ipairs(options) do
        names[i] = tostring(name)
      end
      return nil, "must not be one of: " .. concat(names, ", ")
    end
  end
  return true
end


function Validators.gt(value, limit)
  if value > limit then
    return true
  end
  return nil, "value must be greater than " .. format_number(limit)
end


function Validators.between(value, limits)
  if value < limits[1] or value > limits[2] then
    return nil, format("value should be between %s and %s",
                       format_number(limits[1]), format_number(limits[2]))
  end
  return true
end


local function length_of(value)
  if type(value) == "string" then
    return #value
  end
  local count = 0
  for _ in pairs(value) do
    count = count + 1
  end
  return count
end


function Validators.len_eq(value, n)
  if length_of(value) == n then
    return true
  end
  return nil, format("length must be %d", n)
end


function Validators.len_min(value, n)
  if length_of(value) >= n then
    return true
  end
  return nil, format("length must be at least %d", n)
end


function Validators.len_max(value, n)
  if length_of(value) <= n then
    return true
  end
  return nil, format("length must be at most %d", n)
end


function Validators.starts_with(value, prefix)
  if sub(value, 1, #prefix) == prefix then
    return true
  end
  return nil, "should start with: " .. prefix
end


function Validators.match(value, pattern)
  if value:match(pattern) then
    return true
  end
  return nil, "invalid value: " .. value
end


function Validators.not_match(value, pattern)
  if value:match(pattern) then
    return nil, "invalid value: " .. value
  end
  return true
end


function Validators.match_none(value, rules)
  for _, rule in ipairs(rules) do
    if value:match(rule.pattern) then
      return nil, rule.err
    end
  end
  return true
end


function Validators.match_all(value, rules)
  for _, rule in ipairs(rules) do
    if not value:match(rule.pattern) then
      return nil, rule.err
    end
  end
  return true
end


function Validators.match_any(value, rule)
  for _, pattern in ipairs(rule.patterns) do
    if value:match(pattern) then
      return true
    end
  end
  return nil, rule.err
end


function Validators.contains(value, wanted)
  for _, element in ipairs(value) do
    if element == wanted then
      return true
    end
  end
  return nil, "expected to contain: " .. tostring(wanted)
end


function Validators.custom_validator(value, fn)
  local ok, valid, err = pcall(fn, value)
  if not ok then
    return nil, "custom validator failed: " .. tostring(valid)
  end
  return valid, err
end


local check_value
local run_entity_checks


local function check_record(record, value, path, errors)
  for key, field_value in pairs(value) do
    local def = type(key) == "string" and find_field(record, key) or nil
    if def == nil then
      add_error(errors, join_path(path, key), MESSAGES.UNKNOWN)
    else
      check_value(def, field_value, join_path(path, key), errors)
    end
  end

  for name, def in each_field(record) do
    if def.required and (value[name] == nil or value[name] == null) then
      add_error(errors, join_path(path, name), MESSAGES.REQUIRED)
    end
  end

  run_entity_checks(record, value, path, errors)
end


local function run_validators(def, value, path, errors)
  for _, name in ipairs(VALIDATOR_ORDER) do
    local arg = def[name]
    if def.type == "string" and name == "len_min" and arg == nil then
      arg = 1 -- Kong refuses empty strings unless a schema allows them
    end
    if arg ~= nil then
      local ok, err = Validators[name](value, arg, def)
      if not ok then
        if err == nil then
          err = "failed validating: " .. tostring(value)
        end
        add_error(errors, path, def.err or err)
        return
      end
    end
  end
end


check_value = function(def, value, path, errors)
  if value == null then
    if def.eq ~= nil and def.eq ~= null then
      add_error(errors, path, "value must be " .. tostring(def.eq))
    elseif def.required then
      add_error(errors, path, MESSAGES.REQUIRED)
    end
    return
  end

  if def.eq == null then
    add_error(errors, path, def.err or "value must be null")
    return
  end

  local field_type = def.type

  if field_type == "array" or field_type == "set" then
    if type(value) ~= "table" or not is_sequence(value) then
      add_error(errors, path, field_type == "array" and MESSAGES.ARRAY or MESSAGES.SET)
      return
    end
    local failed = false
    for i, element in ipairs(value) do
      local element_path = path .. "[" .. i .. "]"
      if element == null then
        add_error(errors, element_path, MESSAGES.REQUIRED)
        failed = true
      elseif def.elements then
        local before = #errors.list
        check_value(def.elements, element, element_path, errors)
        failed = failed or #errors.list > before
      end
    end
    if failed then
      return
    end

  elseif field_type == "map" then
    if type(value) ~= "table" then
      add_error(errors, path, MESSAGES.MAP)
      return
    end
    local failed = false
    for key, element in pairs(value) do
      local element_path = join_path(path, key)
      local before = #errors.list
      if def.keys then
        check_value(def.keys, key, element_path, errors)
      end
      if element == null then
        add_error(errors, element_path, MESSAGES.REQUIRED)
      elseif def.values then
        check_value(def.values, element, element_path, errors)
      end
      failed = failed or #errors.list > before
    end
    if failed then
      return
    end

  elseif field_type == "record" then
    if type(value) ~= "table" then
      add_error(errors, path, MESSAGES.RECORD)
      return
    end
    local before = #errors.list
    check_record(def, value, path, errors)
    if #errors.list > before then
      return
    end

  elseif field_type == "foreign" then
    if type(value) ~= "table" then
      add_error(errors, path, MESSAGES.FOREIGN)
      return
    end

  elseif field_type == "integer" then
    if type(value) ~= "number" or value ~= floor(value)
       or value == 1/0 or value == -1/0
    then
      add_error(errors, path, MESSAGES.INTEGER)
      return
    end

  elseif field_type == "number" then
    if type(value) ~= "number" or value ~= value then
      add_error(errors, path, MESSAGES.NUMBER)
      return
    end

  elseif field_type == "string" then
    if type(value) ~= "string" then
      add_error(errors, path, MESSAGES.STRING)
      return
    end
    if def.referenceable and is_reference(value) then
      return
    end

  elseif field_type == "boolean" then
    if type(value) ~= "boolean" then
      add_error(errors, path, MESSAGES.BOOLEAN)
      return
    end

  else
    add_error(errors, path, "schema error: unsupported type '" .. tostring(field_type) .. "'")
    return
  end

  run_validators(def, value, path, errors)
end


-- Kong's insert pass (process_auto_fields): absent fields take their default,
-- optional ones become null, required records are built so nested defaults
-- apply; sets lose duplicates.
local fill_record


local function fill_value(def, value)
  if value == nil then
    if def.default ~= nil then
      value = deep_copy(def.default)
    elseif not def.required then
      return null
    elseif def.type == "record" then
      value = {}
    else
      return nil
    end
  end

  if type(value) ~= "table" or value == null then
    return value
  end

  if def.type == "record" then
    return fill_record(def, value)
  end

  if (def.type == "array" or def.type == "set") and def.elements then
    local filled, seen = {}, {}
    for k, element in pairs(value) do
      local element_value = fill_value(def.elements, element)
      if def.type == "set" and type(k) == "number" then
        if not seen[element_value] then
          seen[element_value] = true
          filled[#filled + 1] = element_value
        end
      else
        filled[k] = element_value
      end
    end
    return filled
  end

  if def.type == "map" and def.values then
    local filled = {}
    for k, element in pairs(value) do
      filled[k] = element == null and null or fill_value(def.values, element)
    end
    return filled
  end

  return value
end


fill_record = function(record, input)
  local filled = {}
  for k, v in pairs(input) do
    filled[k] = v
  end
  for name, def in each_field(record) do
    filled[name] = fill_value(def, input[name])
  end
  return filled
end


local function resolve_reference(reference)
  local vault, resource = reference:match("^{vault://([^/]+)/(.-)}$")
  if vault ~= "env" or resource == nil or resource == "" then
    return nil, "only {vault://env/NAME} references are supported by the local runtime"
  end
  local variable = resource:gsub("-", "_"):upper()
  -- Kong resolves a missing variable to "" (and logs); do the same.
  return os.getenv(variable) or ""
end


-- Kong's select pass as the plugins iterator runs it: nulls removed,
-- references resolved in referenceable string fields.
local function finish_value(def, value, path, errors)
  if value == null then
    return nil
  end
  if type(value) ~= "table" then
    if def and def.type == "string" and def.referenceable and is_reference(value) then
      local resolved, err = resolve_reference(value)
      if resolved == nil then
        add_error(errors, path, err)
      end
      return resolved
    end
    return value
  end

  local out = {}
  if def and def.type == "record" then
    for name, field_def in each_field(def) do
      out[name] = finish_value(field_def, value[name], join_path(path, name), errors)
    end
  elseif def and (def.type == "array" or def.type == "set") then
    for i, element in ipairs(value) do
      out[i] = finish_value(def.elements, element, path .. "[" .. i .. "]", errors)
    end
  elseif def and def.type == "map" then
    for k, element in pairs(value) do
      out[k] = finish_value(def.values, element, join_path(path, k), errors)
    end
  else
    for k, element in pairs(value) do
      out[k] = finish_value(nil, element, join_path(path, k), errors)
    end
  end
  return out
end


-- Entity checks. Each mirrors Kong's: which fields it reads, whether it runs
-- with missing or invalid fields, and what it says on failure.
local Checkers = {}


-- How many of the named fields hold a value.
local function count_set(entity, names)
  local count = 0
  for _, name in ipairs(names) do
    if is_nonempty(get_nested(entity, name)) then
      count = count + 1
    end
  end
  return count
end


Checkers.at_least_one_of = {
  run_with_missing_fields = true,
  run_with_invalid_fields = true,
  fn = function(entity, names)
    for _, name in ipairs(names) do
      if is_nonempty(get_nested(entity, name)) then
        return true
      end
    end
    return nil, quoted_list(names)
  end,
}


Checkers.only_one_of = {
  run_with_invalid_fields = true,
  fn = function(entity, names)
    local count = count_set(entity, names)
    if count == 1 then
      return true
    end
    return nil, quoted_list(names)
  end,
}


Checkers.mutually_required = {
  run_with_missing_fields = true,
  fn = function(entity, names)
    local count = count_set(entity, names)
    if count == 0 or count == #names then
      return true
    end
    return nil, quoted_list(names)
  end,
}


Checkers.mutually_exclusive = {
  run_with_missing_fields = true,
  fn = function(entity, names)
    local count = count_set(entity, names)
    if count <= 1 then
      return true
    end
    return nil, quoted_list(names)
  end,
}


Checkers.mutually_exclusive_sets = {
  run_with_missing_fields = true,
  field_sources = { "set1", "set2" },
  required_sources = { set1 = true, set2 = true },
  fn = function(entity, arg)
    local set1, set2 = {}, {}
    for _, name in ipairs(arg.set1) do
      if is_nonempty(get_nested(entity, name)) then
        insert(set1, name)
      end
    end
    for _, name in ipairs(arg.set2) do
      if is_nonempty(get_nested(entity, name)) then
        insert(set2, name)
      end
    end
    if #set1 > 0 and #set2 > 0 then
      return nil, format("(%s), (%s)", quoted_list(set1), quoted_list(set2))
    end
    return true
  end,
}


-- A partial field definition (if_match, then_match) read over the schema's
-- own definition of that field, as Kong does with a metatable.
local function overlay(partial, def)
  return setmetatable({}, {
    __index = function(_, key)
      local value = partial[key]
      if value ~= nil then
        return value
      end
      return def and def[key]
    end,
  })
end


local function first_error(def, value)
  local errors = new_errors()
  check_value(def, value, "", errors)
  local item = errors.list[1]
  return item and item.message
end


Checkers.conditional = {
  run_with_invalid_fields = true,
  field_sources = { "if_field", "then_field" },
  required_sources = { if_field = true },
  fn = function(entity, arg, record, path, errors)
    local if_value = get_nested(entity, arg.if_field)
    local then_value = get_nested(entity, arg.then_field)
    if then_value == nil then
      then_value = null
    end

    local if_def = overlay(arg.if_match, find_nested_field(record, arg.if_field))
    if first_error(if_def, if_value) ~= nil then
      return true
    end

    local then_path = join_path(path, arg.then_field)
    if arg.then_match.required == true and then_value == null then
      add_error(errors, then_path, MESSAGES.REQUIRED)
      return nil, arg.if_field
    end

    local then_def = overlay(arg.then_match, find_nested_field(record, arg.then_field))
    local err = first_error(then_def, then_value)
    if err ~= nil then
      add_error(errors, then_path, err)
      return nil, arg.if_field, arg.then_err and format(arg.then_err, arg.if_field)
    end
    return true
  end,
}


Checkers.conditional_at_least_one_of = {
  run_with_missing_fields = true,
  run_with_invalid_fields = true,
  field_sources = { "if_field", "then_at_least_one_of", "else_then_at_least_one_of" },
  required_sources = {},
  fn = function(entity, arg, record)
    local if_value = get_nested(entity, arg.if_field)
    if if_value == nil then
      return true
    end

    local if_field_def = find_nested_field(record, arg.if_field)
    local names, message
    if first_error(overlay(arg.if_match, if_field_def), if_value) == nil then
      names, message = arg.then_at_least_one_of, arg.then_err
    else
      if arg.else_match == nil
         or first_error(overlay(arg.else_match, if_field_def), if_value) ~= nil
      then
        return true
      end
      names, message = arg.else_then_at_least_one_of, arg.else_then_err
    end

    for _, name in ipairs(names or {}) do
      if is_nonempty(get_nested(entity, name)) then
        return true
      end
    end
    local list = quoted_list(names or {})
    return nil, list, message and format(message, list)
  end,
}


Checkers.custom_entity_check = {
  field_sources = { "field_sources" },
  required_sources = { field_sources = true },
  fn = function(entity, arg)
    local ok, valid, err = pcall(arg.fn, entity)
    if not ok then
      return nil, nil, "custom entity check failed: " .. tostring(valid)
    end
    if valid then
      return true
    end
    return nil, nil, err or ("failed entity check: custom_entity_check("
                             .. quoted_list(arg.field_sources) .. ")")
  end,
}


local function run_entity_check(record, name, arg, entity, path, errors)
  local checker = Checkers[name]
  if checker == nil then
    add_error(errors, path, "schema error: unsupported entity check '" .. tostring(name) .. "'")
    return
  end

  local names, required = {}, {}
  if checker.field_sources then
    for _, source in ipairs(checker.field_sources) do
      local value = arg[source]
      local list = type(value) == "table" and value or { value }
      for _, field_name in ipairs(list) do
        insert(names, field_name)
        if checker.required_sources[source] then
          required[field_name] = true
        end
      end
    end
  else
    for _, field_name in ipairs(arg) do
      insert(names, field_name)
      required[field_name] = true
    end
  end

  local projection, missing = {}, {}
  local all_nil, all_valid = true, true
  for _, field_name in ipairs(names) do
    local value = get_nested(entity, field_name)
    if value == nil then
      if not checker.run_with_missing_fields and not arg.run_with_missing_fields
         and required[field_name]
      then
        insert(missing, field_name)
      end
    else
      all_nil = false
      local def = find_nested_field(record, field_name)
      if def and def.type == "string" and def.referenceable and is_reference(value) then
        return -- Kong cannot check what a reference will resolve to
      end
    end
    if has_error_under(errors, join_path(path, field_name)) then
      all_valid = false
    end
    set_nested(projection, field_name, value)
  end

  if not all_valid and not checker.run_with_invalid_fields
     and not arg.run_with_invalid_fields
  then
    return
  end
  if all_nil and not checker.run_with_missing_fields then
    return
  end
  if #missing > 0 then
    for _, field_name in ipairs(missing) do
      add_error(errors, join_path(path, field_name), MESSAGES.REQUIRED_FOR_ENTITY_CHECK)
    end
    return
  end

  local ok, detail, message = checker.fn(projection, arg, record, path, errors)
  if ok then
    return
  end
  if message == nil then
    message = format(ENTITY_CHECK_MESSAGES[name], detail)
  end
  add_error(errors, path, message, true)
end


run_entity_checks = function(record, value, path, errors)
  for _, check in ipairs(record.entity_checks or {}) do
    local name, arg = next(check)
    if arg ~= nil and arg ~= null then
      run_entity_check(record, name, arg, value, path, errors)
    end
  end
end


local function check_schema_attributes(def, path, errors)
  if type(def) ~= "table" then
    add_error(errors, path, "schema error: field definition is not a table")
    return
  end
  for attribute in pairs(def) do
    if not METADATA_ATTRIBUTES[attribute] and not KNOWN_VALIDATORS[attribute] then
      add_error(errors, path, "schema error: attribute '" .. tostring(attribute)
                              .. "' is not supported by the local runtime")
    end
  end
  for name, field_def in each_field(def) do
    check_schema_attributes(field_def, join_path(path, name), errors)
  end
  if type(def.elements) == "table" then
    check_schema_attributes(def.elements, path .. "[]", errors)
  end
  if type(def.keys) == "table" then
    check_schema_attributes(def.keys, path .. ".<key>", errors)
  end
  if type(def.values) == "table" then
    check_schema_attributes(def.values, path .. ".<value>", errors)
  end
end


-- Kong's Entity.new_subschema: records in a plugin schema are required unless
-- they say otherwise. Applied to a copy, keeping the caller's schema intact.
local function with_required_records(record)
  local copy = {}
  for k, v in pairs(record) do
    copy[k] = v
  end
  if copy.required == nil then
    copy.required = true
  end
  if record.fields then
    local fields = {}
    for name, def in each_field(record) do
      if type(def) == "table" and def.type == "record" then
        def = with_required_records(def)
      end
      insert(fields, { [name] = def })
    end
    copy.fields = fields
  end
  return copy
end


local prepared_schemas = setmetatable({}, { __mode = "k" })


local function prepare_schema(plugin_schema)
  local prepared = prepared_schemas[plugin_schema]
  if prepared then
    return prepared
  end

  prepared = with_required_records(plugin_schema)
  prepared.required = nil
  if find_field(prepared, "protocols") == nil then
    insert(prepared.fields, { protocols = {
      type = "set",
      required = true,
      default = { "grpc", "grpcs", "http", "https" },
      elements = { type = "string", one_of = { "grpc", "grpcs", "http", "https" } },
    } })
  end
  prepared_schemas[plugin_schema] = prepared
  return prepared
end


-- Keys of a plugin entity that are not part of its config schema.
local PLUGIN_ENTITY_KEYS = {
  name = true, enabled = true, config = true, protocols = true,
  consumer = true, service = true, route = true,
  tags = true, instance_name = true, id = true,
}


local function format_errors(plugin_name, errors)
  sort(errors.list, function(a, b)
    if a.path ~= b.path then
      return a.path < b.path
    end
    return a.message < b.message
  end)
  local parts = {}
  for i, item in ipairs(errors.list) do
    parts[i] = item.path == "" and item.message or (item.path .. ": " .. item.message)
  end
  return plugin_name .. ": " .. concat(parts, "; ")
end


local schema = {
  null = null,
  is_null = is_null,
}


-- Top-level keys of a plugin schema this runtime understands.
local SCHEMA_KEYS = { name = true, fields = true, entity_checks = true }


local function check_plugin_schema(plugin_schema, errors)
  for key in pairs(plugin_schema) do
    if not SCHEMA_KEYS[key] then
      add_error(errors, "", "schema error: '" .. tostring(key)
                            .. "' is not supported by the local runtime")
    end
  end
  for name, def in each_field(plugin_schema) do
    check_schema_attributes(def, name, errors)
  end
end


local function process(plugin_name, plugin_schema, plugin_entry)
  local errors = new_errors()
  check_plugin_schema(plugin_schema, errors)
  if #errors.list > 0 then
    return nil, format_errors(plugin_name, errors)
  end

  for key in pairs(plugin_entry) do
    if not PLUGIN_ENTITY_KEYS[key] then
      add_error(errors, tostring(key), MESSAGES.UNKNOWN)
    end
  end
  if plugin_entry.enabled ~= nil and type(plugin_entry.enabled) ~= "boolean" then
    add_error(errors, "enabled", MESSAGES.BOOLEAN)
  end

  local prepared = prepare_schema(plugin_schema)
  local entity = {}
  for name in each_field(prepared) do
    entity[name] = plugin_entry[name]
  end
  entity = fill_record(prepared, entity)
  check_record(prepared, entity, "", errors)
  if #errors.list > 0 then
    return nil, format_errors(plugin_name, errors)
  end

  local config = finish_value(find_field(prepared, "config"), entity.config, "config", errors)
  if #errors.list > 0 then
    return nil, format_errors(plugin_name, errors)
  end
  return config or {}
end


--- Validate `plugin_entry` ({ name, config, protocols?, enabled? }) against
-- `plugin_schema` and return the config its handler would receive, or nil and
-- one message listing every error, sorted by path.
function schema.process_plugin(plugin_schema, plugin_entry)
  local plugin_name = type(plugin_entry) == "table" and plugin_entry.name
  if type(plugin_name) ~= "string" then
    plugin_name = type(plugin_schema) == "table" and plugin_schema.name or "plugin"
  end

  if type(plugin_schema) ~= "table" or type(plugin_schema.fields) ~= "table" then
    return nil, plugin_name .. ": schema error: schema has no 'fields' table"
  end
  if type(plugin_entry) ~= "table" then
    return nil, plugin_name .. ": expected a plugin entry table"
  end

  -- A schema mistake (a validator on the wrong type, say) must come back as
  -- a message, never as an error thrown into nginx's init phase.
  local ok, config, err = pcall(process, plugin_name, plugin_schema, plugin_entry)
  if not ok then
    return nil, plugin_name .. ": schema error: " .. tostring(config)
  end
  return config, err
end


return schema
