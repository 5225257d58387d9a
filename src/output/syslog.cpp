#include "output/syslog.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <iterator>
#include <utility>
#include <vector>

#include "output/escape.hpp"

namespace proctrail {

namespace {

constexpr auto kFacilities = std::to_array<std::pair<std::string_view, int>>({
    {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
    {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},    {"local0", 16}, {"local1", 17}, {"local2", 18},
    {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
});

// A PARAM-VALUE: '"', '\' and ']' escaped with a backslash (RFC 5424, 6.3.3).
void append_param_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
}

// Cuts s to at most max bytes, at the start of a UTF-8 sequence. Returns whether it cut.
bool cut_to(std::string& s, size_t max) {
  if (s.size() <= max) return false;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  s.resize(n);
  return true;
}

// The structured data's parameters, in the walk's order except the lists of strings (argv,
// env) and a command line, which go last: a daemon that cuts a long message then cuts a command
// line, not who ran it. A value a process controls is cut at kSyslogValueMax bytes, and
// "<name>_cut" says so: where it is, or, given cuts, there (the ECS element holds ECS names
// only, so its markers go to the proctrail element).
class SdParams final : public FieldVisitor {
 public:
  explicit SdParams(std::string& out, std::string* cuts = nullptr) : out_(out), cuts_(cuts) {}
  ~SdParams() override { out_ += late_; }

  void number(std::string_view k, int64_t v) override { param(k, fmt::format("{}", v)); }
  void count(std::string_view k, uint64_t v) override { param(k, fmt::format("{}", v)); }
  void flag(std::string_view k, bool v) override { param(k, v ? "true" : "false"); }
  void word(std::string_view k, std::string_view v) override { param(k, v); }
  void words(std::string_view k, const std::vector<std::string>& v) override {
    std::string all;
    for (const auto& w : v) {
      if (!all.empty()) all += ' ';
      all += w;
    }
    param(k, all);
  }
  void text(std::string_view k, std::string_view v) override { put_text(out_, k, v); }
  void joined_text(std::string_view k, std::string_view v) override { put_text(late_, k, v); }
  void texts(std::string_view k, const Strings& v) override {
    std::string all;
    bool first = true;
    for (std::string_view a : v) {
      if (!first) all += ' ';
      first = false;
      append_shell_word(all, a);
      if (all.size() > kSyslogValueMax) break;
    }
    const bool cut = cut_to(all, kSyslogValueMax);
    param(late_, k, all);
    if (cut) mark_cut(late_, k);
  }
  void time(std::string_view k, int64_t wall_ns) override {
    std::string t;
    append_rfc3339(t, wall_ns);
    param(k, t);
  }
  void none(std::string_view) override {}  // not known: left out
  void open(std::string_view k) override { prefixes_.push_back(prefix() + std::string(k) + "."); }
  void close() override { prefixes_.pop_back(); }
  void open_list(std::string_view k) override {
    lists_.push_back({prefix() + std::string(k) + ".", -1});
    prefixes_.push_back(lists_.back().first);
  }
  void item() override {
    auto& [base, items] = lists_.back();
    prefixes_.back() = base + std::to_string(++items) + ".";
  }
  void close_list() override {
    prefixes_.pop_back();
    lists_.pop_back();
  }

 private:
  [[nodiscard]] std::string prefix() const {
    return prefixes_.empty() ? std::string() : prefixes_.back();
  }
  void put_text(std::string& out, std::string_view k, std::string_view v) {
    std::string value = is_safe_text(v) ? std::string(v) : shell_word(v);
    const bool cut = cut_to(value, kSyslogValueMax);
    param(out, k, value);
    if (cut) mark_cut(out, k);
  }
  void mark_cut(std::string& out, std::string_view k) {
    param(cuts_ ? *cuts_ : out, std::string(k) + "_cut", "true");
  }
  void param(std::string_view k, std::string_view v) { param(out_, k, v); }
  void param(std::string& out, std::string_view k, std::string_view v) {
    out += ' ';
    out += prefix();
    out += k;
    out += "=\"";
    append_param_value(out, v);
    out += '"';
  }

  std::string& out_;
  std::string* cuts_;
  std::string late_;
  std::vector<std::string> prefixes_;
  std::vector<std::pair<std::string, int>> lists_;
};

// HOSTNAME: printable US-ASCII, at most 255 (RFC 5424, 6.2.4); "-" when the name is not.
std::string syslog_hostname(const std::string& name) {
  if (name.empty() || name.size() > 255) return "-";
  for (char c : name) {
    if (c < 33 || c > 126) return "-";
  }
  return name;
}

}  // namespace

std::optional<int> syslog_facility_named(std::string_view name) {
  for (const auto& [n, f] : kFacilities) {
    if (n == name) return f;
  }
  return std::nullopt;
}

SyslogEncoder::SyslogEncoder(int facility, Schema schema)
    : facility_(facility), procid_(std::to_string(getpid())) {
  if (schema == Schema::Ecs) ecs_ = std::make_unique<EcsWalk>();
  ctx_.host = HostIdentity::local();
  TextOptions o;
  o.message = true;
  message_ = make_text_formatter(o);
}

void SyslogEncoder::encode(const Event& e, std::string& out) {
  learn_from(e, ctx_);
  fmt::format_to(std::back_inserter(out), "<{}>1 ", facility_ * 8 + event_severity(e));
  // RFC 5424 takes at most six digits of a second: the microseconds; and a four-digit year
  // (a recording's nonsense time is the NILVALUE).
  std::string t;
  append_rfc3339(t, e.wall_ns);
  if (t.size() == 30 && t[4] == '-' && t.back() == 'Z') {
    t.erase(26, 3);
    out += t;
  } else {
    out += '-';
  }
  out += ' ';
  out += syslog_hostname(ctx_.host.hostname);
  out += " proctrail ";
  out += procid_;
  out += ' ';
  out += event_type_name(e.type());
  out += " [";
  if (ecs_) {
    ecs_->load(e);
    out += kSyslogEcsSdId;
    std::string cuts;
    {
      SdParams params(out, &cuts);
      ecs_->visit(params, EcsWalk::Part::Ecs);
    }
    out += "][";
    out += kSyslogSdId;
    out += cuts;
    {
      SdParams params(out);
      ecs_->visit(params, EcsWalk::Part::Proctrail);
    }
  } else {
    out += kSyslogSdId;
    SdParams params(out);
    visit_fields(e, ctx_, params);
  }
  // MSG: UTF-8 text, written without the byte order mark RFC 5424 puts before UTF-8 (the form
  // it calls MSG-ANY): daemons keep the mark, and it would lead every line of their log files.
  out += "] ";
  line_.clear();
  message_->format(e, line_);
  while (!line_.empty() && line_.back() == '\n') line_.pop_back();
  if (line_.empty()) line_ = event_type_name(e.type());
  if (cut_to(line_, kSyslogValueMax)) line_ += "\u2026";  // an ellipsis: the line goes on
  out += line_;
}

}  // namespace proctrail
