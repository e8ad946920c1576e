#include "git/libgit2_util.h"

#include <mutex>

#include "common/status_code.h"
#include "git/socket_stream.h"

namespace wavebot::git {

void EnsureLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Objects come from our own mirror, whose packs were verified when fetched (index-pack); hashing
    // every blob again on read costs ~10% of a fresh 20 MB checkout.
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
    // Connections with TCP_NODELAY and timeouts (socket_stream.h says why).
    RegisterSocketStream(SocketStreamOptions{});
  });
}

Error GitError(int code, const std::string& what) {
  const git_error* e = git_error_last();
  std::string msg = what + ": " + (e != nullptr && e->message != nullptr ? e->message : "libgit2 error");
  ErrorCode ec = ErrorCode::kIo;
  switch (code) {
    case GIT_ENOTFOUND: ec = ErrorCode::kNotFound; break;
    case GIT_EEXISTS: ec = ErrorCode::kAlreadyExists; break;
    case GIT_EAUTH: ec = ErrorCode::kUnauthenticated; break;
    case GIT_ECONFLICT:
    case GIT_EUNMERGED:
    case GIT_ENONFASTFORWARD:
    case GIT_ELOCKED:
    case GIT_EMERGECONFLICT: ec = ErrorCode::kConflict; break;
    case GIT_EINVALIDSPEC:
    case GIT_EINVALID: ec = ErrorCode::kInvalidArgument; break;
    default:
      if (e != nullptr && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_HTTP)) {
        std::string m = e->message ? e->message : "";
        ec = (HasStatusCode(m, "401") || m.find("authentication") != std::string::npos ||
              m.find("credentials") != std::string::npos)
                 ? ErrorCode::kUnauthenticated
                 : ErrorCode::kUnavailable;
      }
  }
  return Error(ec, msg);
}

std::string OidHex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof(buf), oid);
  return buf;
}

}  // namespace wavebot::git

#if defined(__SANITIZE_ADDRESS__)
// libgit2 1.5.1 leaks the PCRE2 match data of its config regex matching (git_remote_lookup ->
// config multivar). Not ours to fix; keep LeakSanitizer quiet about it in sanitizer builds of every
// binary that links src/git.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }
#endif
