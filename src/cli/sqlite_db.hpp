// The SQLite handles and helpers the record (record.cpp) and the report (report.cpp) share.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

#include "proctrail/result.hpp"

namespace proctrail::cli {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// "PATH: WHAT: sqlite's message".
Error db_error(sqlite3* db, const std::string& path, const std::string& what);
Status exec_sql(sqlite3* db, const std::string& path, const char* sql);
Result<Stmt> prepare(sqlite3* db, const std::string& path, const char* sql);

// A recording opened read-only (replay and report never change one, and may read one that is
// being written), after checking that it is one, of a schema version this proctrail reads.
Result<Db> open_recording_readonly(const std::string& path);

}  // namespace proctrail::cli
