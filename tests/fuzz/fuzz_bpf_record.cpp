// libFuzzer: the eBPF ring buffer record decoder, and the formatters on what it decodes.
#include <cstddef>
#include <cstdint>

#include "source/bpf/bpf_record.hpp"
#include "proctrail/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctrail;
  static auto json = make_json_formatter();
  static auto text = make_text_formatter(TextOptions{true});
  auto e = bpf::decode_record({reinterpret_cast<const std::byte*>(data), size});
  if (!e.ok()) return 0;
  std::string out;
  json->format(*e, out);
  text->format(*e, out);
  return 0;
}
