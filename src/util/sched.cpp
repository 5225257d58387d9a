#include "util/sched.hpp"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace proctrail {

std::optional<Priority> parse_priority(std::string_view name) {
  if (name == "realtime" || name == "rt") return Priority::Realtime;
  if (name == "nice") return Priority::Nice;
  if (name == "normal" || name == "none") return Priority::Normal;
  return std::nullopt;
}

std::string raise_thread_priority(Priority wanted) {
  std::string why;
  if (wanted == Priority::Realtime) {
    sched_param sp{};
    sp.sched_priority = 10;
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (err == 0) return "SCHED_FIFO priority 10";
    why = " (SCHED_FIFO refused: " + std::string(strerrordesc_np(err)) + ")";
  }
  if (wanted != Priority::Normal) {
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), -10) == 0) {
      return "nice -10" + why;
    }
    why += " (nice -10 refused: " + std::string(strerrordesc_np(errno)) + ")";
  }
  return "normal priority" + why;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

bool pin_thread_to_cpu(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace proctrail
