// What one thread spends of GitHub's rate limits while a RequestTally lives on it: the engine counts
// each reconcile pass this way, so an epic's summary can say what it cost per merged ticket.
#pragma once

#include <cstdint>

namespace wavebot::github {

struct RequestCounts {
  int64_t requests = 0;      // authenticated requests answered (any status)
  int64_t not_modified = 0;  // of them 304s, which GitHub does not count against the primary limit
  int64_t writes = 0;        // of them POST, PATCH, PUT, DELETE
  RequestCounts& operator+=(const RequestCounts& o) {
    requests += o.requests;
    not_modified += o.not_modified;
    writes += o.writes;
    return *this;
  }
};

// Scoped, per thread; tallies nest (a request counts in every tally alive on its thread). Not copyable.
class RequestTally {
 public:
  RequestTally();
  ~RequestTally();
  RequestTally(const RequestTally&) = delete;
  RequestTally& operator=(const RequestTally&) = delete;

  const RequestCounts& counts() const { return counts_; }
  // The innermost tally alive on this thread, or null.
  static const RequestTally* Current();
  // Called by the REST client for every answered authenticated request.
  static void Count(int status, bool write);

 private:
  RequestCounts counts_;
  RequestTally* outer_;
};

}  // namespace wavebot::github
