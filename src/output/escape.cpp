#include "output/escape.hpp"

#include <array>

namespace proctrail {

namespace {

constexpr char kHex[] = "0123456789abcdef";

uint32_t decode_code_point(std::string_view s, size_t len) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i])); };
  switch (len) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1f) << 6) | (b(1) & 0x3f);
    case 3:
      return ((b(0) & 0x0f) << 12) | ((b(1) & 0x3f) << 6) | (b(2) & 0x3f);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3f) << 12) | ((b(2) & 0x3f) << 6) | (b(3) & 0x3f);
  }
}

bool is_shell_safe_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '@' || c == '%' || c == '+' || c == '=' || c == ':' || c == ',' || c == '.' ||
         c == '/' || c == '-';
}

void append_hex_byte(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

void append_u4(std::string& out, const char* prefix, uint32_t cp) {
  out += prefix;
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xf];
}

}  // namespace

bool is_safe_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_sequence_length(s.substr(i));
    if (len == 0 || is_unsafe_code_point(decode_code_point(s.substr(i), len))) return false;
    i += len;
  }
  return true;
}

size_t utf8_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t min;
  if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) return 0;
  }
  uint32_t cp = decode_code_point(s, len);
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_sequence_length(s.substr(i));
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool is_unsafe_code_point(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

void append_shell_word(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += "''";
    return;
  }
  bool bare = true;
  for (char c : s) bare = bare && is_shell_safe_byte(c);
  if (bare) {
    out += s;
    return;
  }
  if (is_safe_text(s)) {
    out += '\'';
    for (char c : s) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
    return;
  }
  out += "$'";
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_sequence_length(s.substr(i));
    if (len == 0) {
      append_hex_byte(out, static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    uint32_t cp = decode_code_point(s.substr(i), len);
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\\' || cp == '\'') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp < 0x80 && is_unsafe_code_point(cp)) {
      append_hex_byte(out, static_cast<unsigned char>(cp));
    } else if (is_unsafe_code_point(cp)) {
      append_u4(out, "\\u", cp);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += '\'';
}

std::string shell_word(std::string_view s) {
  std::string out;
  append_shell_word(out, s);
  return out;
}

bool append_json_string(std::string& out, std::string_view s) {
  bool exact = true;
  out += '"';
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    size_t len = c < 0x80 ? 1 : utf8_sequence_length(s.substr(i));
    uint32_t cp = len ? decode_code_point(s.substr(i), len) : 0;
    if (len > 1 && !is_unsafe_code_point(cp)) {
      i += len;
      continue;
    }
    out.append(s.substr(run, i - run));
    if (len == 0) {
      out += "\\ufffd";
      exact = false;
      len = 1;
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      append_u4(out, "\\u", cp);
    }
    i += len;
    run = i;
  }
  out.append(s.substr(run));
  out += '"';
  return exact;
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  auto u = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (u(i) << 16) | (u(i + 1) << 8) | u(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = u(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t v = (u(i) << 16) | (u(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
}

std::optional<std::string> decode_base64(std::string_view b64) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string raw;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    const size_t d = kAlphabet.find(c);
    if (d == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return raw;
}

std::string with_replacement(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_length(s.substr(i));
    if (len == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto hex = [&](uint32_t v, int digits) {
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xf];
  };
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_length(s.substr(i));
    if (len == 0) {
      out += "\\x";
      hex(static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    const uint32_t cp = decode_code_point(s.substr(i), len);
    if (!is_unsafe_code_point(cp)) {
      out.append(s.substr(i, len));
    } else if (cp < 0x80) {
      out += "\\x";
      hex(cp, 2);
    } else {
      out += "\\u";
      hex(cp, 4);
    }
    i += len;
  }
  return out;
}

}  // namespace proctrail
