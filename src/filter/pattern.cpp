#include "filter/pattern.hpp"

#include <re2/re2.h>

namespace proctrail {

namespace {

// Memory one compiled pattern may use, its matching automata included: beyond it RE2 refuses
// the pattern at compile time, or falls back to a slower (still linear) matcher.
constexpr int64_t kMaxPatternMemory = 8 << 20;

}  // namespace

Pattern::Pattern(std::unique_ptr<re2::RE2> re) : re_(std::move(re)) {}
Pattern::~Pattern() = default;

Result<std::unique_ptr<Pattern>> Pattern::compile(const std::string& option,
                                                  const std::string& re) {
  RE2::Options o;
  o.set_posix_syntax(true);
  o.set_perl_classes(true);
  o.set_word_boundary(true);
  o.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as the kernel keeps them
  o.set_log_errors(false);
  o.set_max_mem(kMaxPatternMemory);
  auto compiled = std::make_unique<re2::RE2>(re, o);
  if (!compiled->ok()) {
    return make_error(option + ": '" + re + "' is not a regular expression: " + compiled->error());
  }
  return std::unique_ptr<Pattern>(new Pattern(std::move(compiled)));
}

bool Pattern::search(std::string_view text) const {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace proctrail
