// Whether this process sees the system as the kernel's process events describe it.
#pragma once

#include <string>
#include <string_view>

#include "proctrail/result.hpp"

namespace proctrail {

// Fails, with `why` and the namespace this process is in, unless it is in the initial user
// and pid namespaces. Passes when proc_root has no namespace files to tell.
Status require_initial_namespaces(const std::string& proc_root, std::string_view why);

// "pid:[4026531836]", the name of this process's namespace of a kind.
std::string namespace_name(const std::string& proc_root, const char* kind);

}  // namespace proctrail
