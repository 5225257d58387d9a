// Output files as a root tool must open them (stream_sink.cpp): never through a symbolic link,
// never into a file another user owns, readable by the caller alone whatever the umask.
#pragma once

#include <string>

#include "proctrail/result.hpp"

namespace proctrail {

// `flags`: O_TRUNC, O_APPEND, or 0 to write in place (what is there stays until overwritten).
// `what` starts the error line ("open output").
Result<int> open_output(const std::string& path, int flags, const char* what);

}  // namespace proctrail
