// The ECS document of an event (--schema ecs) for the encoders that write fields one by one
// (journald, syslog): the same names, values and order as the ECS JSON document, since it is
// that document, walked. What a process controls stays text; the exact bytes of a string that
// is not valid UTF-8 are in its proctrail.<name>_b64 sibling, as in the JSON.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "output/fields.hpp"
#include "proctrail/event.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

class EcsWalk {
 public:
  EcsWalk();
  // The event's document, for the visits that follow.
  void load(const Event& e);
  // Which part of the document a visit shows: all of it; the ECS fields (all but the
  // proctrail object); or what ECS has no name for (the proctrail object's fields, named
  // from it, as proctrail's schema names them).
  enum class Part { All, Ecs, Proctrail };
  void visit(FieldVisitor& v, Part part = Part::All) const;

 private:
  std::unique_ptr<Formatter> json_;
  std::string line_;
  nlohmann::ordered_json doc_;
};

}  // namespace proctrail
