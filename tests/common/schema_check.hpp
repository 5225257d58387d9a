// Checks JSON records against docs/event.schema.json, for the unit tests (formatter output)
// and the end-to-end tests (every record of every real run).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace proctrail::testing {

// The schema, read once from the source tree.
const nlohmann::json& event_schema();

// What is wrong with rec: an undocumented key (nested objects too), a value of the wrong JSON
// type or outside its enum, a required key missing for its record type. Empty when nothing.
std::string schema_violations(const nlohmann::json& rec);

}  // namespace proctrail::testing
