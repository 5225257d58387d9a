// Command-line options of the proctrail tool: what the library's MonitorOptions take, plus
// where and how to write.
#pragma once

#include <optional>
#include <string>

#include "proctrail/format.hpp"
#include "proctrail/monitor.hpp"

namespace proctrail::cli {

struct Options {
  MonitorOptions monitor;
  OutputFormat format = OutputFormat::Text;
  std::string output;  // empty: standard output
  bool verbose = false;
  bool stats = false;
  bool header = true;
  bool utc = false;
};

struct ParseOutcome {
  std::optional<Options> options;  // set when the tool should run
  int exit_code = 0;               // otherwise: exit with this (0 after --help / --version)
};

// Parses argv. Help and version go to stdout; a usage error is one line on stderr.
ParseOutcome parse_options(int argc, char** argv);

}  // namespace proctrail::cli
