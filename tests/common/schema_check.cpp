#include "schema_check.hpp"

#include <fstream>
#include <stdexcept>

namespace proctrail::testing {

namespace {

const nlohmann::json& event_schema_root() {
  static const nlohmann::json schema = [] {
    std::ifstream in(PROCTRAIL_SCHEMA);
    if (!in) throw std::runtime_error("cannot read " PROCTRAIL_SCHEMA);
    return nlohmann::json::parse(in);
  }();
  return schema;
}

bool has_type(const nlohmann::json& value, const std::string& type) {
  if (type == "integer") return value.is_number_integer();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "array") return value.is_array();
  if (type == "object") return value.is_object();
  if (type == "null") return value.is_null();
  if (type == "number") return value.is_number();
  return false;
}

bool type_fits(const nlohmann::json& spec, const nlohmann::json& value) {
  if (!spec.contains("type")) return true;
  const auto& t = spec["type"];
  if (t.is_string()) return has_type(value, t);
  for (const auto& one : t) {
    if (has_type(value, one)) return true;
  }
  return false;
}

// A {"$ref": "#/$defs/NAME"} spec stands for that definition.
const nlohmann::json& resolve(const nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("$ref")) return spec;
  const std::string ref = spec["$ref"];
  const std::string prefix = "#/$defs/";
  if (ref.rfind(prefix, 0) != 0) throw std::runtime_error("unsupported $ref " + ref);
  return event_schema_root()["$defs"].at(ref.substr(prefix.size()));
}

void check(const nlohmann::json& props, const nlohmann::json& obj, const std::string& where,
           std::string& out) {
  for (const auto& [key, value] : obj.items()) {
    const std::string name = where.empty() ? key : where + "." + key;
    if (!props.contains(key)) {
      out += "undocumented field '" + name + "'; ";
      continue;
    }
    const auto& p = resolve(props[key]);
    if (!type_fits(p, value)) out += "'" + name + "' has the wrong type; ";
    if (p.contains("enum")) {
      bool listed = false;
      for (const auto& v : p["enum"]) listed |= v == value;
      if (!listed) out += "'" + name + "'=" + value.dump() + " is not in its enum; ";
    }
    if (p.contains("properties") && value.is_object()) check(p["properties"], value, name, out);
    if (p.contains("items") && value.is_array()) {
      const auto& items = resolve(p["items"]);
      for (const auto& item : value) {
        if (!type_fits(items, item)) out += "an item of '" + name + "' has the wrong type; ";
        if (items.contains("properties") && item.is_object()) {
          check(items["properties"], item, name + "[]", out);
          for (const auto& r : items.value("required", nlohmann::json::array())) {
            if (!item.contains(r)) out += "'" + name + "[]." + r.get<std::string>() + "' missing; ";
          }
        }
      }
    }
  }
}

}  // namespace

const nlohmann::json& event_schema() {
  return event_schema_root();
}

std::string schema_violations(const nlohmann::json& rec) {
  const auto& schema = event_schema();
  std::string out;
  check(schema["properties"], rec, "", out);
  for (const auto& r : schema["required"]) {
    if (!rec.contains(r)) out += "required '" + r.get<std::string>() + "' missing; ";
  }
  for (const auto& cond : schema["allOf"]) {
    if (cond["if"]["properties"]["type"]["const"] != rec.value("type", "")) continue;
    for (const auto& r : cond["then"]["required"]) {
      if (!rec.contains(r)) out += "'" + r.get<std::string>() + "' missing; ";
    }
  }
  return out;
}

}  // namespace proctrail::testing
