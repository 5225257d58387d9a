// Pattern: a regular expression from the command line (--comm, --argv, --exe), matched in time
// linear in the text. The text comes from the monitored processes, so from possible attackers:
// a backtracking matcher lets one exec of 130 KB cost seconds of the monitor's time. RE2 never
// backtracks and bounds the memory a pattern may use.
//
// Syntax: POSIX extended, as grep -E, plus \d \s \w and \b. Matching is on bytes (a command
// line need not be UTF-8): '.' matches any one byte.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "proctrail/result.hpp"

namespace re2 {
class RE2;
}

namespace proctrail {

class Pattern {
 public:
  // The error names the option and the value.
  static Result<std::unique_ptr<Pattern>> compile(const std::string& option, const std::string& re);
  ~Pattern();
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;
  // Whether the pattern matches anywhere in text.
  [[nodiscard]] bool search(std::string_view text) const;

 private:
  explicit Pattern(std::unique_ptr<re2::RE2> re);
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace proctrail
