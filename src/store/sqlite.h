// A thin RAII layer over the SQLite C API, used by every store in this module (and by later stores
// such as the engine's). Not thread-safe: a Connection belongs to one thread at a time; Database
// (database.h) hands connections out under its own discipline.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace wavebot::store {

class Connection;

// A prepared statement owned by its Connection's cache. Obtained from Connection::Prepare already
// reset, with bindings cleared. Indices are 1-based for Bind and 0-based for Column (as in SQLite).
class Statement {
 public:
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);
  // Steps once: true when a row is available, false when done; an error names the SQL.
  Result<bool> Step();
  // Steps to completion (for INSERT/UPDATE/DELETE). Returns the number of rows changed.
  Result<int64_t> Run();
  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;  // NULL reads as ""
  bool ColumnIsNull(int col) const;

 private:
  friend class Connection;
  Statement(Connection* conn, sqlite3_stmt* stmt, const std::string* sql) : conn_(conn), stmt_(stmt), sql_(sql) {}
  Status BindResult(int rc);
  Connection* conn_;
  sqlite3_stmt* stmt_;
  const std::string* sql_;
  std::optional<Error> bind_error_;
};

class Connection {
 public:
  // Opens (creating when absent) the database at `path` in WAL mode with the given synchronous level
  // ("FULL" or "NORMAL") and a busy timeout. Errors: kIo with SQLite's message and the path.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, std::string_view synchronous);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Executes one or more statements with no result rows. Errors: kIo naming the failing SQL.
  Status Exec(std::string_view sql);
  // Returns the cached prepared statement for `sql`, reset. The Statement stays valid until the
  // Connection dies; do not use the same SQL text twice at once.
  Result<Statement> Prepare(const std::string& sql);
  // Resets every statement left mid-iteration, ending the read transaction it holds open (a stepped,
  // unreset SELECT would otherwise pin the snapshot and hide later commits).
  void ResetBusyStatements();
  // SQLite's last error message on this connection.
  std::string LastError() const;
  int64_t LastInsertRowId() const;
  sqlite3* raw() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace wavebot::store
