#include "proctrail/result.hpp"

#include <string.h>

namespace proctrail {

Error Error::context(std::string_view what) const {
  Error e;
  e.code = code;
  e.message.reserve(what.size() + 2 + message.size());
  e.message.append(what).append(": ").append(message);
  return e;
}

Error system_error(std::string_view what, int err) {
  Error e;
  e.code = err;
  e.message.append(what).append(": ").append(strerrordesc_np(err) ? strerrordesc_np(err)
                                                                  : "Unknown error");
  return e;
}

Error make_error(std::string message) {
  return Error{0, std::move(message)};
}

}  // namespace proctrail
