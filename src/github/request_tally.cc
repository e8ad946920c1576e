#include "github/request_tally.h"

namespace wavebot::github {

namespace {
thread_local RequestTally* current = nullptr;
}  // namespace

RequestTally::RequestTally() : outer_(current) { current = this; }

RequestTally::~RequestTally() { current = outer_; }

const RequestTally* RequestTally::Current() { return current; }

void RequestTally::Count(int status, bool write) {
  for (RequestTally* t = current; t != nullptr; t = t->outer_) {
    ++t->counts_.requests;
    if (status == 304) ++t->counts_.not_modified;
    if (write) ++t->counts_.writes;
  }
}

}  // namespace wavebot::github
