#include "output/journal.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <iterator>
#include <vector>

#include "output/escape.hpp"

namespace proctrail {

namespace {

// Made once for this project (random); docs/output.md lists them. Never change one: saved
// searches and alerts match on them.
constexpr auto kMessageIds = std::to_array<std::pair<EventType, std::string_view>>({
    {EventType::Start, "b295b27668fc4b01a44bfd74cb4666f6"},
    {EventType::Fork, "09675edc0a2943e7945646fc64cb27db"},
    {EventType::Exec, "f8e57647f366404897c15f265028dac2"},
    {EventType::Exit, "ded208c797ba4d089cfc7f4f3c0eb8ad"},
    {EventType::ExecFailed, "59081f207ce04c0e9d75e1d35fda3c23"},
    {EventType::Lost, "f64b30ffee2a4f36ba3c6a3861623797"},
    {EventType::Resync, "2fa5355f9d554742aca237cc3c55d126"},
    {EventType::Summary, "6b7767e4a75547e88bbc50844a23310f"},
});
// Every other type (uid, gid, sid, ptrace, comm, coredump, ack, unknown): its kind is in
// PROCTRAIL_TYPE.
constexpr std::string_view kOtherMessageId = "92109024625648fe8563f4077b2b0dd4";

// The walk's fields as fields named lead + the path in capitals: PROCTRAIL_<PATH> for
// proctrail's schema; the path alone for ECS's, where a '.' or '@' is a '_' and none leads,
// as journald takes a name ([A-Z0-9_], not starting with '_').
class JournalFields final : public FieldVisitor {
 public:
  JournalFields(std::string& out, std::string_view lead) : out_(out), lead_(lead) {}

  void number(std::string_view k, int64_t v) override { field(k, fmt::format("{}", v)); }
  void count(std::string_view k, uint64_t v) override { field(k, fmt::format("{}", v)); }
  void flag(std::string_view k, bool v) override { field(k, v ? "true" : "false"); }
  void word(std::string_view k, std::string_view v) override { field(k, v); }
  void words(std::string_view k, const std::vector<std::string>& v) override {
    std::string all;
    for (const auto& w : v) {
      if (!all.empty()) all += ' ';
      all += w;
    }
    field(k, all);
  }
  void text(std::string_view k, std::string_view v) override { field(k, v); }
  void texts(std::string_view k, const Strings& v) override {
    std::string all;
    bool first = true;
    for (std::string_view a : v) {
      if (!first) all += ' ';
      first = false;
      append_shell_word(all, a);
    }
    field(k, all);
  }
  void time(std::string_view k, int64_t wall_ns) override {
    std::string t;
    append_rfc3339(t, wall_ns);
    field(k, t);
  }
  // The journal has no null: a figure not known is left out.
  void none(std::string_view) override {}
  void open(std::string_view k) override { levels_.push_back({prefix() + upper(k) + "_", -1}); }
  void close() override { levels_.pop_back(); }
  void open_list(std::string_view k) override {
    levels_.push_back({prefix() + upper(k) + "_", -1});
    levels_.push_back({"", -1});  // the current item's, from item()
  }
  void item() override {
    Level& list = levels_[levels_.size() - 2];
    ++list.items;
    levels_.back().prefix = list.prefix + std::to_string(list.items) + "_";
  }
  void close_list() override {
    levels_.pop_back();
    levels_.pop_back();
  }

 private:
  struct Level {
    std::string prefix;  // with the trailing _
    int items;           // a list's items so far, less one
  };

  static std::string upper(std::string_view k) {
    std::string s(k);
    for (char& c : s) {
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 'a' + 'A');
      } else if (!(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9')) {
        c = '_';
      }
    }
    return s;
  }
  [[nodiscard]] std::string prefix() const {
    return levels_.empty() ? std::string() : levels_.back().prefix;
  }
  void field(std::string_view k, std::string_view v) {
    std::string name = std::string(lead_) + prefix() + upper(k);
    name.erase(0, name.find_first_not_of('_'));
    append_journal_field(out_, name, v);
  }

  std::string& out_;
  std::string_view lead_;
  std::vector<Level> levels_;
};

}  // namespace

std::string_view journal_message_id(EventType type) {
  for (const auto& [t, id] : kMessageIds) {
    if (t == type) return id;
  }
  return kOtherMessageId;
}

void append_journal_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  if (value.find('\n') == std::string_view::npos) {
    out += '=';
    out += value;
    out += '\n';
    return;
  }
  // The binary-safe form: the name alone, then the length before the value.
  out += '\n';
  uint64_t n = value.size();
  for (int i = 0; i < 8; ++i) {
    out += static_cast<char>(n & 0xff);
    n >>= 8;
  }
  out += value;
  out += '\n';
}

JournalEncoder::JournalEncoder(Schema schema) {
  if (schema == Schema::Ecs) ecs_ = std::make_unique<EcsWalk>();
  ctx_.host = HostIdentity::local();
  TextOptions o;
  o.message = true;
  message_ = make_text_formatter(o);
}

void JournalEncoder::encode(const Event& e, std::string& out) {
  learn_from(e, ctx_);
  line_.clear();
  message_->format(e, line_);
  while (!line_.empty() && line_.back() == '\n') line_.pop_back();
  if (line_.empty()) line_ = event_type_name(e.type());
  append_journal_field(out, "MESSAGE", line_);
  append_journal_field(out, "MESSAGE_ID", journal_message_id(e.type()));
  append_journal_field(out, "PRIORITY", fmt::format("{}", event_severity(e)));
  append_journal_field(out, "SYSLOG_IDENTIFIER", "proctrail");
  if (ecs_) {
    JournalFields fields(out, "");
    ecs_->load(e);
    ecs_->visit(fields);
  } else {
    JournalFields fields(out, "PROCTRAIL_");
    visit_fields(e, ctx_, fields);
  }
}

}  // namespace proctrail
