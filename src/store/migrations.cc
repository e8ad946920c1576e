// wavebot's schema history. Append only: a released migration is never edited; a change is a new one.
#include "store/database.h"

namespace wavebot::store {

const std::vector<Migration>& SchemaMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
      {1, "deliveries, epics, tickets, edges, attempts, jobs", R"sql(
CREATE TABLE deliveries (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order
  id              TEXT NOT NULL UNIQUE,               -- X-GitHub-Delivery
  event           TEXT NOT NULL,                      -- X-GitHub-Event
  action          TEXT NOT NULL DEFAULT '',
  installation_id INTEGER NOT NULL DEFAULT 0,
  repository      TEXT NOT NULL DEFAULT '',           -- owner/name, '' when the event has none
  received_at_ms  INTEGER NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending',    -- pending|processing|done|ignored|dead
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  finished_at_ms  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_by_status ON deliveries(status, seq);
CREATE INDEX deliveries_by_repo ON deliveries(repository, status);
-- The raw bytes GitHub signed, apart from the row whose status changes, so that a status update does
-- not rewrite a 25 MiB record.
CREATE TABLE delivery_bodies (
  seq             INTEGER PRIMARY KEY REFERENCES deliveries(seq) ON DELETE CASCADE,
  body            BLOB NOT NULL
);

CREATE TABLE epics (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  repository      TEXT NOT NULL,
  number          INTEGER NOT NULL,                   -- the epic issue
  installation_id INTEGER NOT NULL DEFAULT 0,
  title           TEXT NOT NULL DEFAULT '',
  state           TEXT NOT NULL DEFAULT 'idle',       -- owned by the engine
  strategy        TEXT NOT NULL DEFAULT 'wave',
  max_parallel    INTEGER NOT NULL DEFAULT 4,
  branch          TEXT NOT NULL DEFAULT '',
  started_by      TEXT NOT NULL DEFAULT '',
  status_comment_id INTEGER NOT NULL DEFAULT 0,
  dirty           INTEGER NOT NULL DEFAULT 0,         -- an event arrived since the last reconcile
  created_at_ms   INTEGER NOT NULL DEFAULT 0,
  updated_at_ms   INTEGER NOT NULL DEFAULT 0,
  UNIQUE(repository, number)
);

CREATE TABLE tickets (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  epic_id         INTEGER NOT NULL REFERENCES epics(id) ON DELETE CASCADE,
  repository      TEXT NOT NULL,
  number          INTEGER NOT NULL,
  title           TEXT NOT NULL DEFAULT '',
  state           TEXT NOT NULL DEFAULT 'blocked',    -- blocked|ready|running|pr_open|fixing|done|needs_human
  wave            INTEGER NOT NULL DEFAULT 0,
  branch          TEXT NOT NULL DEFAULT '',
  pr_number       INTEGER NOT NULL DEFAULT 0,
  head_sha        TEXT NOT NULL DEFAULT '',
  runs_used       INTEGER NOT NULL DEFAULT 0,
  updated_at_ms   INTEGER NOT NULL DEFAULT 0,
  UNIQUE(epic_id, repository, number)
);

CREATE TABLE edges (
  epic_id         INTEGER NOT NULL REFERENCES epics(id) ON DELETE CASCADE,
  from_ticket     INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,  -- depends on ...
  to_ticket       INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,  -- ... this one
  PRIMARY KEY (from_ticket, to_ticket)
);

CREATE TABLE attempts (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id       INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
  mode            TEXT NOT NULL,                      -- implement|fix_ci|address_review|resolve_conflict
  trigger_key     TEXT NOT NULL DEFAULT '',           -- (head sha, trigger): handled once
  state           TEXT NOT NULL DEFAULT 'running',    -- running|succeeded|failed|rate_limited|timed_out
  started_at_ms   INTEGER NOT NULL DEFAULT 0,
  finished_at_ms  INTEGER NOT NULL DEFAULT 0,
  exit_code       INTEGER NOT NULL DEFAULT 0,
  log_path        TEXT NOT NULL DEFAULT '',
  summary         TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX attempts_once ON attempts(ticket_id, mode, trigger_key) WHERE trigger_key != '';

CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT NOT NULL,
  key             TEXT NOT NULL,                      -- dedupe key among unfinished jobs of a kind
  payload         TEXT NOT NULL DEFAULT '',
  status          TEXT NOT NULL DEFAULT 'queued',     -- queued|done|dead
  run_at_ms       INTEGER NOT NULL,
  lease_owner     TEXT NOT NULL DEFAULT '',
  lease_until_ms  INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  created_at_ms   INTEGER NOT NULL
);
CREATE UNIQUE INDEX jobs_unfinished_key ON jobs(kind, key) WHERE status = 'queued';
CREATE INDEX jobs_due ON jobs(status, run_at_ms);
)sql"},
      {2, "engine state: per-epic and per-ticket data, review feedback",
       R"sql(
ALTER TABLE epics ADD COLUMN data TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tickets ADD COLUMN data TEXT NOT NULL DEFAULT '{}';
CREATE TABLE feedback (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id       INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
  kind            TEXT NOT NULL,                      -- review | review_comment | fix_request
  external_id     INTEGER NOT NULL,                   -- review id / comment id on GitHub
  review_id       INTEGER NOT NULL DEFAULT 0,         -- the review a review_comment belongs to
  state           TEXT NOT NULL DEFAULT '',           -- review state (changes_requested, ...)
  author          TEXT NOT NULL DEFAULT '',
  trusted         INTEGER NOT NULL DEFAULT 0,         -- the author may write to the repository
  body            TEXT NOT NULL DEFAULT '',
  path            TEXT NOT NULL DEFAULT '',
  line            INTEGER NOT NULL DEFAULT 0,
  created_at_ms   INTEGER NOT NULL DEFAULT 0,
  UNIQUE(ticket_id, kind, external_id)
);
)sql"},
      {3, "agent runs' own report: cost, turns, tokens",
       R"sql(
ALTER TABLE attempts ADD COLUMN cost_microusd INTEGER NOT NULL DEFAULT 0;  -- the CLI's cost estimate, USD * 1e6
ALTER TABLE attempts ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
)sql"},
      {4, "jobs: a job asked for again while it is leased runs once more after it completes",
       R"sql(
ALTER TABLE jobs ADD COLUMN rerun_at_ms INTEGER NOT NULL DEFAULT 0;
)sql"},
      {5, "delivery bodies: how each is encoded (zstd from now on; older ones stay raw)",
       R"sql(
ALTER TABLE delivery_bodies ADD COLUMN encoding TEXT NOT NULL DEFAULT 'identity';
)sql"},
      {6, "deliveries: the index of repositories holds only the deliveries being processed",
       R"sql(
-- The claim asks only whether a repository has a delivery processing: an index of those alone is a
-- page or two, and a delivery stored, or finished, no longer writes an entry of it.
DROP INDEX deliveries_by_repo;
CREATE INDEX deliveries_processing_by_repo ON deliveries(repository) WHERE status = 'processing';
)sql"},
      {7, "replies to commands: whether a reply's create was ever sent",
       R"sql(
-- A reply to a `/wave` comment is recorded here before its create leaves: a comment without a row
-- cannot have been answered, so its reply is made without reading the issue's comments first.
CREATE TABLE command_replies (
  repository      TEXT NOT NULL,
  comment_id      INTEGER NOT NULL,
  created_at_ms   INTEGER NOT NULL,
  PRIMARY KEY (repository, comment_id)
) WITHOUT ROWID;
)sql"},
  };
  return *migrations;
}

}  // namespace wavebot::store
