#include "enrich/container.hpp"

#include <string>

namespace proctrail::procfs {

namespace {

bool is_container_id(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "<prefix><64 hex><suffix>" exactly.
bool id_between(std::string_view s, std::string_view prefix, std::string_view suffix,
                std::string_view* id) {
  if (s.size() != prefix.size() + 64 + suffix.size()) return false;
  if (s.substr(0, prefix.size()) != prefix || s.substr(prefix.size() + 64) != suffix) return false;
  *id = s.substr(prefix.size(), 64);
  return is_container_id(*id);
}

std::optional<Container> container_in_component(std::string_view c, bool under_kubepods,
                                                bool after_docker) {
  struct Pattern {
    std::string_view prefix, suffix, runtime;
  };
  static constexpr Pattern kPatterns[] = {
      {"docker-", ".scope", "docker"}, {"cri-containerd-", ".scope", "containerd"},
      {"crio-", ".scope", "cri-o"},    {"libpod-", ".scope", "podman"},
      {"libpod-", "", "podman"},  // podman with the cgroupfs manager: /libpod_parent/libpod-ID
  };
  std::string_view id;
  for (const auto& p : kPatterns) {
    if (id_between(c, p.prefix, p.suffix, &id))
      return Container{std::string(p.runtime), std::string(id)};
  }
  if (is_container_id(c)) {
    if (after_docker) return Container{"docker", std::string(c)};  // /docker/ID (cgroupfs)
    if (under_kubepods) return Container{"kubernetes", std::string(c)};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Container> container_from_cgroup(std::string_view path) {
  std::optional<Container> found;
  bool kubepods = false, after_docker = false;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (c.empty()) continue;
    if (c.starts_with("kubepods")) kubepods = true;
    // The innermost match wins: docker-in-docker names the inner container last.
    if (auto m = container_in_component(c, kubepods, after_docker)) found = std::move(m);
    after_docker = c == "docker";
  }
  return found;
}

}  // namespace proctrail::procfs
