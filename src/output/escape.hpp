// Making untrusted bytes (argv, comm, paths, environment) safe to show.
//
// Nothing printed by proctrail may move a terminal's cursor, change its colours, forge a line
// or reorder text: control characters (C0, DEL, C1), escape sequences, invalid UTF-8 and the
// Unicode format/bidi controls are always escaped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proctrail {

// Length of the valid UTF-8 sequence at the start of s (1-4), or 0 when s starts with an
// invalid one (bad lead byte, truncated, overlong, surrogate, beyond U+10FFFF).
size_t utf8_sequence_length(std::string_view s);
bool is_valid_utf8(std::string_view s);

// Whether a code point must not reach a terminal raw: C0 and C1 controls, DEL, and the
// zero-width, line/paragraph separator and bidirectional formatting characters.
bool is_unsafe_code_point(uint32_t cp);

// Whether s is valid UTF-8 with no unsafe code point: text that may be shown as it is.
bool is_safe_text(std::string_view s);

// Appends s as one POSIX shell word that a shell reads back as exactly these bytes: bare when
// it has only safe characters, in single quotes when it is printable UTF-8, else as a $'...'
// word (bash, zsh, ksh, and POSIX.1-2024 sh) with \n, \t, \xHH and \uXXXX escapes.
void append_shell_word(std::string& out, std::string_view s);
std::string shell_word(std::string_view s);

// Appends a JSON string literal. Valid UTF-8 is kept as text (unsafe code points as \uXXXX);
// each byte of an invalid sequence becomes U+FFFD. Returns false when that replacement
// happened, i.e. the literal does not hold the bytes exactly (see docs/output.md, "json").
bool append_json_string(std::string& out, std::string_view s);

// Standard base64 (RFC 4648, with padding).
void append_base64(std::string& out, std::string_view bytes);
// Its bytes, or nothing when b64 has a character outside the alphabet (padding ends it).
std::optional<std::string> decode_base64(std::string_view b64);

// s as valid UTF-8: each byte of an invalid sequence becomes U+FFFD, as in a JSON string.
std::string with_replacement(std::string_view s);

// s safe to show in a message, and still readable: safe text as it is, each unsafe code point
// as \uXXXX (\xHH below 0x80) and each byte of an invalid sequence as \xHH. For an error
// that quotes what a file or a process said.
std::string printable(std::string_view s);

}  // namespace proctrail
