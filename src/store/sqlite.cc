#include "store/sqlite.h"

#include <sqlite3.h>

namespace wavebot::store {

Status Statement::BindResult(int rc) {
  if (rc != SQLITE_OK && !bind_error_) {
    bind_error_ = Error(ErrorCode::kInternal, "bind failed for '" + *sql_ + "': " + conn_->LastError());
  }
  return OkStatus();
}

Statement& Statement::Bind(int index, int64_t value) {
  (void)BindResult(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}
Statement& Statement::Bind(int index, std::string_view text) {
  (void)BindResult(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  return *this;
}
Statement& Statement::BindBlob(int index, std::string_view bytes) {
  (void)BindResult(sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  return *this;
}
Statement& Statement::BindNull(int index) {
  (void)BindResult(sqlite3_bind_null(stmt_, index));
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_error_) return *bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ErrorCode code = rc == SQLITE_CONSTRAINT ? ErrorCode::kAlreadyExists
                   : (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? ErrorCode::kUnavailable
                                                               : ErrorCode::kIo;
  return Error(code, "sqlite: " + conn_->LastError() + " (in '" + *sql_ + "')");
}

Result<int64_t> Statement::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) return r.error();
    if (!*r) break;
  }
  return static_cast<int64_t>(sqlite3_changes(conn_->raw()));
}

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
std::string Statement::ColumnText(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}
bool Statement::ColumnIsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, std::string_view synchronous) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error(ErrorCode::kIo, "cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  sqlite3_busy_timeout(db, 10000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + std::string(synchronous) +
                        "; PRAGMA foreign_keys=ON;";
  if (auto st = conn->Exec(pragmas); !st.ok()) {
    return Error(ErrorCode::kIo, "cannot open database " + path + ": " + st.error().message());
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status Connection::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Error(rc == SQLITE_BUSY ? ErrorCode::kUnavailable : ErrorCode::kIo,
                 "sqlite: " + msg + " (in '" + text.substr(0, 80) + "')");
  }
  return OkStatus();
}

Result<Statement> Connection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
      return Error(ErrorCode::kInternal, "sqlite: cannot prepare '" + sql + "': " + LastError());
    }
    it = cache_.emplace(sql, stmt).first;
  }
  sqlite3_reset(it->second);
  sqlite3_clear_bindings(it->second);
  return Statement(this, it->second, &it->first);
}

void Connection::ResetBusyStatements() {
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s != nullptr; s = sqlite3_next_stmt(db_, s)) {
    if (sqlite3_stmt_busy(s)) sqlite3_reset(s);
  }
}

std::string Connection::LastError() const { return sqlite3_errmsg(db_); }
int64_t Connection::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

}  // namespace wavebot::store
