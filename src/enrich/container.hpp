// Container names: which container, if any, a cgroup path says a process runs in.
#pragma once

#include <optional>
#include <string_view>

#include "proctrail/event.hpp"

namespace proctrail::procfs {

// The container a cgroup path names, for the runtimes whose naming is unambiguous: docker,
// containerd (cri-containerd), cri-o, podman (libpod), and kubepods paths ending in a bare
// container id. Anything else, conmon scopes included, is not a container: nullopt.
std::optional<Container> container_from_cgroup(std::string_view path);

}  // namespace proctrail::procfs
