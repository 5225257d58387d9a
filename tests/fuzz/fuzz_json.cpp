// libFuzzer: the JSON lines decoder. Whatever a line holds, decoding it gives an event or an
// error, never a crash; an event it gives encodes to a line that decodes to the same bytes, and
// to an ECS document (which reads that line back: it must never have to say it could not).
#include <cstddef>
#include <cstdint>
#include <string>

#include "proctrail/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctrail;
  JsonDecoder decoder;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Several lines: a start record before the others changes how they read.
  size_t pos = 0;
  auto json = make_json_formatter();
  auto ecs = make_ecs_formatter();
  while (pos <= input.size()) {
    size_t nl = input.find('\n', pos);
    if (nl == std::string_view::npos) nl = input.size();
    auto e = decoder.decode(input.substr(pos, nl - pos));
    pos = nl + 1;
    if (!e.ok()) continue;
    std::string once;
    json->format(*e, once);
    JsonDecoder again;
    if (e->type() == EventType::Start) (void)again.decode(once.substr(0, once.size() - 1));
    auto back = again.decode(once.substr(0, once.size() - 1));
    if (!back.ok()) __builtin_trap();
    std::string doc;
    ecs->format(*e, doc);
    // Only the document that says it could not read the record starts otherwise.
    if (doc.rfind(R"({"@timestamp":)", 0) != 0) __builtin_trap();
  }
  return 0;
}
