// libFuzzer: the proc connector decoder, and every formatter on whatever it decodes.
#include <cstddef>
#include <cstdint>

#include "source/netlink/cn_proc.hpp"
#include "proctrail/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctrail;
  static auto text = make_text_formatter(TextOptions{true});
  static auto json = make_json_formatter();
  static auto seed = make_seed_formatter();
  auto r = cn_proc::decode({reinterpret_cast<const std::byte*>(data), size});
  if (!r.ok()) return 0;
  std::string out;
  text->format(r->event, out);
  json->format(r->event, out);
  seed->format(r->event, out);
  // Whatever came in, a decoded message re-encodes to a datagram the decoder accepts.
  auto again = cn_proc::encode_event(r->event, r->seq, r->ack);
  if (!cn_proc::decode({again.data(), again.size()}).ok()) __builtin_trap();
  return 0;
}
