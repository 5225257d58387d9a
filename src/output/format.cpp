#include <fmt/format.h>
#include <time.h>

#include <iterator>

#include "proctrail/format.hpp"

namespace proctrail {

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  if (name == "text") return OutputFormat::Text;
  if (name == "json") return OutputFormat::Json;
  if (name == "seed") return OutputFormat::Seed;
  return std::nullopt;
}

std::unique_ptr<Formatter> make_formatter(OutputFormat format, TextOptions text) {
  switch (format) {
    case OutputFormat::Json:
      return make_json_formatter();
    case OutputFormat::Seed:
      return make_seed_formatter();
    case OutputFormat::Text:
      break;
  }
  return make_text_formatter(text);
}

std::string human_duration(uint64_t ns) {
  if (ns < 1'000) return fmt::format("{} ns", ns);
  if (ns < 1'000'000) return fmt::format("{:.0f} µs", static_cast<double>(ns) / 1e3);
  if (ns < 1'000'000'000) return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6);
  if (ns < 600'000'000'000) return fmt::format("{:.3f} s", static_cast<double>(ns) / 1e9);
  uint64_t s = ns / 1'000'000'000;
  return fmt::format("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60);
}

void append_rfc3339(std::string& out, int64_t wall_ns) {
  // Formatting a calendar date costs far more than the rest of a JSON line; one per second.
  thread_local int64_t cached_sec = INT64_MIN;
  thread_local char cached[24];
  int64_t sec = wall_ns / 1'000'000'000;
  int64_t frac = wall_ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --sec;
  }
  if (sec != cached_sec) {
    time_t t = sec;
    struct tm tm {};
    gmtime_r(&t, &tm);
    strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_sec = sec;
  }
  out += cached;
  fmt::format_to(std::back_inserter(out), ".{:09}Z", frac);
}

}  // namespace proctrail
