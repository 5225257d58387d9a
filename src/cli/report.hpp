// proctrail report FILE: a recording (--record) drawn as a timeline of its processes, as one
// self-contained HTML page or as a Perfetto trace (docs/record.md, "Pictures").
#pragma once

namespace proctrail::cli {

// "proctrail report ...", argv[0] being "report". Returns the exit status.
int report_main(int argc, char** argv);

}  // namespace proctrail::cli
