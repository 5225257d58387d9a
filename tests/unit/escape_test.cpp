#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>

#include "output/escape.hpp"

namespace proctrail {
namespace {

TEST(ShellWord, SafeWordsStayBare) {
  EXPECT_EQ(shell_word("ls"), "ls");
  EXPECT_EQ(shell_word("/usr/bin/env"), "/usr/bin/env");
  EXPECT_EQ(shell_word("--prefix=/usr"), "--prefix=/usr");
  EXPECT_EQ(shell_word("a,b:c@d%e+f"), "a,b:c@d%e+f");
}

TEST(ShellWord, EmptyArgumentIsKeptVisible) {
  EXPECT_EQ(shell_word(""), "''");
}

TEST(ShellWord, PrintableTextIsSingleQuoted) {
  EXPECT_EQ(shell_word("a b"), "'a b'");
  EXPECT_EQ(shell_word("$HOME"), "'$HOME'");
  EXPECT_EQ(shell_word("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_word("caf\xc3\xa9"), "'caf\xc3\xa9'");
  EXPECT_EQ(shell_word("*"), "'*'");
}

TEST(ShellWord, ControlsEscapesAndBadBytesUseDollarQuotes) {
  EXPECT_EQ(shell_word("a\nb"), "$'a\\nb'");
  EXPECT_EQ(shell_word("\x1b[31mred"), "$'\\x1b[31mred'");
  EXPECT_EQ(shell_word("tab\there"), "$'tab\\there'");
  EXPECT_EQ(shell_word("bad\xff"), "$'bad\\xff'");
  EXPECT_EQ(shell_word("q'\n"), "$'q\\'\\n'");
  EXPECT_EQ(shell_word("back\\slash\r"), "$'back\\\\slash\\r'");
  EXPECT_EQ(shell_word("\x7f"), "$'\\x7f'");
  // U+202E RIGHT-TO-LEFT OVERRIDE and U+009B (C1 CSI) must not reach a terminal raw.
  EXPECT_EQ(shell_word("x\xe2\x80\xae"), "$'x\\u202e'");
  EXPECT_EQ(shell_word("\xc2\x9b"), "$'\\u009b'");
}

TEST(ShellWord, NothingPrintedContainsARawControlByte) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 12, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    std::string w = shell_word(s);
    for (unsigned char c : w) {
      ASSERT_FALSE(c < 0x20 || c == 0x7f) << "raw control in " << w;
    }
    ASSERT_TRUE(is_valid_utf8(w)) << w;
  }
}

// The promise that matters: a shell reads the word back as exactly the original bytes.
TEST(ShellWord, BashReadsEveryWordBackExactly) {
  std::mt19937 rng(11);
  std::string script;
  std::vector<std::string> originals;
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 10, '\0');
    for (char& c : s) {
      c = static_cast<char>(rng() % 255 + 1);  // argv strings cannot hold NUL
    }
    if (i % 3 == 0) s += "\xe2\x80\xae\xc3\xa9";
    originals.push_back(s);
    script += "printf '%s\\0' " + shell_word(s) + "\n";
  }
  char path[] = "/tmp/proctrail-shellword-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, script.data(), script.size()), static_cast<ssize_t>(script.size()));
  close(fd);
  FILE* p = popen((std::string("bash ") + path).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0);
  unlink(path);
  std::vector<std::string> back;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t z = out.find('\0', pos);
    back.push_back(out.substr(pos, z - pos));
    pos = z + 1;
  }
  ASSERT_EQ(back.size(), originals.size());
  for (size_t i = 0; i < back.size(); ++i) EXPECT_EQ(back[i], originals[i]) << i;
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));
}

std::string json(std::string_view s, bool* exact = nullptr) {
  std::string out;
  bool e = append_json_string(out, s);
  if (exact) *exact = e;
  return out;
}

TEST(JsonString, EscapesWhatMustBeEscaped) {
  EXPECT_EQ(json("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json("l1\nl2\t\r"), R"("l1\nl2\t\r")");
  EXPECT_EQ(json(std::string("\x00\x1b\x7f", 3)), R"("\u0000\u001b\u007f")");
  EXPECT_EQ(json("\xc2\x9b"), R"("\u009b")");
  EXPECT_EQ(json("\xe2\x80\xae"), R"("\u202e")");
  EXPECT_EQ(json("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonString, InvalidUtf8IsReplacedAndReported) {
  bool exact = true;
  EXPECT_EQ(json("a\xff"
                 "b",
                 &exact),
            R"("a\ufffdb")");
  EXPECT_FALSE(exact);
  json("fine", &exact);
  EXPECT_TRUE(exact);
}

TEST(Base64, Rfc4648Vectors) {
  auto b64 = [](std::string_view s) {
    std::string o;
    append_base64(o, s);
    return o;
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(b64("\xff\xfe"), "//4=");
}

}  // namespace
}  // namespace proctrail
