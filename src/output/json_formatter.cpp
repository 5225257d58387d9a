// JSON lines: the field walk (fields.hpp) written as one object per event. Every string a
// process controls goes through append_json_string; a string that is not valid UTF-8 gets a
// sibling "<name>_b64" with its exact bytes, a list that is not is written as "<name>_b64"
// alone (docs/output.md).
#include <fmt/format.h>

#include <iterator>

#include "output/escape.hpp"
#include "output/fields.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

class JsonWriter final : public FieldVisitor {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin() {
    out_ += '{';
    first_ = true;
  }
  void end() { out_ += '}'; }

  void number(std::string_view k, int64_t v) override {
    key(k);
    fmt::format_to(std::back_inserter(out_), "{}", v);
  }
  void count(std::string_view k, uint64_t v) override {
    key(k);
    fmt::format_to(std::back_inserter(out_), "{}", v);
  }
  void flag(std::string_view k, bool v) override {
    key(k);
    out_ += v ? "true" : "false";
  }
  void word(std::string_view k, std::string_view ascii) override {
    key(k);
    out_ += '"';
    out_ += ascii;  // our own vocabulary: no escaping needed
    out_ += '"';
  }
  void words(std::string_view k, const std::vector<std::string>& v) override {
    key(k);
    out_ += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ',';
      append_json_string(out_, v[i]);
    }
    out_ += ']';
  }
  void text(std::string_view k, std::string_view v) override {
    key(k);
    if (!append_json_string(out_, v)) {
      key(std::string(k) + "_b64");
      out_ += '"';
      append_base64(out_, v);
      out_ += '"';
    }
  }
  // One form only: an array of strings when every one is valid UTF-8, else k_b64 alone, the
  // exact bytes of the whole list as the kernel keeps it (each string followed by a NUL). A
  // list of invalid bytes would otherwise be written twice (U+FFFD text and base64).
  void texts(std::string_view k, const Strings& v) override {
    bool valid = true;
    for (std::string_view a : v) {
      if (!is_valid_utf8(a)) {
        valid = false;
        break;
      }
    }
    if (!valid) {
      key(std::string(k) + "_b64");
      out_ += '"';
      append_base64(out_, v.bytes());
      out_ += '"';
      return;
    }
    key(k);
    out_ += '[';
    bool first = true;
    for (std::string_view a : v) {
      if (!first) out_ += ',';
      first = false;
      append_json_string(out_, a);
    }
    out_ += ']';
  }
  void time(std::string_view k, int64_t wall_ns) override {
    key(k);
    out_ += '"';
    append_rfc3339(out_, wall_ns);
    out_ += '"';
  }
  void none(std::string_view k) override {
    key(k);
    out_ += "null";
  }
  void open(std::string_view k) override {
    key(k);
    out_ += '{';
    first_ = true;
  }
  void close() override {
    out_ += '}';
    first_ = false;
  }
  void open_list(std::string_view k) override {
    key(k);
    out_ += '[';
    in_list_ = true;
    first_item_ = true;
  }
  void item() override {
    if (!first_item_) out_ += '}';
    out_ += first_item_ ? "{" : ",{";
    first_item_ = false;
    first_ = true;
  }
  void close_list() override {
    if (!first_item_) out_ += '}';
    out_ += ']';
    in_list_ = false;
    first_ = false;
  }

 private:
  void key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;  // keys are ours: plain ASCII
    out_ += "\":";
  }

  std::string& out_;
  bool first_ = true;
  bool in_list_ = false;
  bool first_item_ = true;
};

// Each call of the walk, to the line's writer and then to one more visitor.
class Tee final : public FieldVisitor {
 public:
  Tee(FieldVisitor& a, FieldVisitor& b) : a_(a), b_(b) {}
  void number(std::string_view k, int64_t v) override {
    a_.number(k, v);
    b_.number(k, v);
  }
  void count(std::string_view k, uint64_t v) override {
    a_.count(k, v);
    b_.count(k, v);
  }
  void flag(std::string_view k, bool v) override {
    a_.flag(k, v);
    b_.flag(k, v);
  }
  void word(std::string_view k, std::string_view v) override {
    a_.word(k, v);
    b_.word(k, v);
  }
  void words(std::string_view k, const std::vector<std::string>& v) override {
    a_.words(k, v);
    b_.words(k, v);
  }
  void text(std::string_view k, std::string_view v) override {
    a_.text(k, v);
    b_.text(k, v);
  }
  void texts(std::string_view k, const Strings& v) override {
    a_.texts(k, v);
    b_.texts(k, v);
  }
  void joined_text(std::string_view k, std::string_view v) override {
    a_.joined_text(k, v);
    b_.joined_text(k, v);
  }
  void time(std::string_view k, int64_t wall_ns) override {
    a_.time(k, wall_ns);
    b_.time(k, wall_ns);
  }
  void none(std::string_view k) override {
    a_.none(k);
    b_.none(k);
  }
  void open(std::string_view k) override {
    a_.open(k);
    b_.open(k);
  }
  void close() override {
    a_.close();
    b_.close();
  }
  void open_list(std::string_view k) override {
    a_.open_list(k);
    b_.open_list(k);
  }
  void item() override {
    a_.item();
    b_.item();
  }
  void close_list() override {
    a_.close_list();
    b_.close_list();
  }

 private:
  FieldVisitor& a_;
  FieldVisitor& b_;
};

class JsonFormatter final : public Formatter {
 public:
  explicit JsonFormatter(bool host_in_every_record) {
    ctx_.host = HostIdentity::local();
    ctx_.host_in_every_record = host_in_every_record;
  }

  void format(const Event& e, std::string& out) override {
    // The stream's start record says whose host and clocks the records after it are.
    learn_from(e, ctx_);
    append_json_line(e, ctx_, out);
    out += '\n';
  }

 private:
  FieldContext ctx_;
};

}  // namespace

void append_json_line(const Event& e, const FieldContext& ctx, std::string& out,
                      FieldVisitor* also) {
  JsonWriter w(out);
  w.begin();
  if (also == nullptr) {
    visit_fields(e, ctx, w);
  } else {
    Tee both(w, *also);
    visit_fields(e, ctx, both);
  }
  w.end();
}

std::unique_ptr<Formatter> make_json_formatter(bool host_in_every_record) {
  return std::make_unique<JsonFormatter>(host_in_every_record);
}

}  // namespace proctrail
