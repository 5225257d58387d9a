// Command-line options of the proctrail tool.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/format.hpp"
#include "proctrail/pipeline.hpp"
#include "proctrail/procfs.hpp"
#include "proctrail/sched.hpp"

namespace proctrail::cli {

enum class Backend { Auto, Bpf, Netlink };

struct Options {
  Backend backend = Backend::Auto;
  OutputFormat format = OutputFormat::Text;
  EventMask events = EventMask::all();
  std::string output;  // empty: standard output
  bool verbose = false;
  bool stats = false;
  procfs::ReadOptions proc_fields;    // which /proc fields to read at exec (--env included)
  bool proc_fields_explicit = false;  // fields chosen on the command line, not the default
  bool ancestry = false;
  bool header = true;
  bool utc = false;
  size_t max_argv_bytes = 128 * 1024;
  Priority priority = Priority::Realtime;
  size_t exec_readers = 64;  // at most one per CPU
  int receive_buffer_bytes = 32 << 20;
  size_t ring_buffer_bytes = 16 << 20;
};

struct ParseOutcome {
  std::optional<Options> options;  // set when the tool should run
  int exit_code = 0;               // otherwise: exit with this (0 after --help / --version)
};

// Parses argv. Help and version go to stdout; a usage error is one line on stderr.
ParseOutcome parse_options(int argc, char** argv);

}  // namespace proctrail::cli
