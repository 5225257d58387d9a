#include "schema_check.hpp"

#include <fstream>
#include <stdexcept>

namespace proctrail::testing {

namespace {

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

void check(const nlohmann::json& props, const nlohmann::json& obj, const std::string& where,
           std::string& out) {
  for (const auto& [key, value] : obj.items()) {
    const std::string name = where.empty() ? key : where + "." + key;
    if (!props.contains(key)) {
      out += "undocumented field '" + name + "'; ";
      continue;
    }
    const auto& p = props[key];
    if (!type_fits(p, value)) out += "'" + name + "' has the wrong type; ";
    if (p.contains("enum")) {
      bool listed = false;
      for (const auto& v : p["enum"]) listed |= v == value;
      if (!listed) out += "'" + name + "'=" + value.dump() + " is not in its enum; ";
    }
    if (p.contains("properties") && value.is_object()) check(p["properties"], value, name, out);
    if (p.contains("items") && value.is_array()) {
      for (const auto& item : value) {
        if (!type_fits(p["items"], item)) out += "an item of '" + name + "' has the wrong type; ";
        if (p["items"].contains("properties") && item.is_object()) {
          check(p["items"]["properties"], item, name + "[]", out);
        }
      }
    }
  }
}

}  // namespace

const nlohmann::json& event_schema() {
  static const nlohmann::json schema = [] {
    std::ifstream in(PROCTRAIL_SCHEMA);
    if (!in) throw std::runtime_error("cannot read " PROCTRAIL_SCHEMA);
    return nlohmann::json::parse(in);
  }();
  return schema;
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
