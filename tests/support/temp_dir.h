// A fresh directory under the system's temp dir ($TMPDIR or /tmp), removed with everything in it on
// destruction. The one TempDir of the tests: two classes of one name in one test binary break it (the linker
// keeps one definition of their inline members for both). WAVEBOT_KEEP_TEST_DIR=1 keeps it for a post-mortem.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace wavebot::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wavebot-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();  // no test can run without it
    path_ = tmpl;
  }
  ~TempDir() {
    const char* keep = std::getenv("WAVEBOT_KEEP_TEST_DIR");  // for post-mortems: keep everything
    if (keep != nullptr && *keep != '\0') {
      std::fprintf(stderr, "kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::filesystem::path Dir() const { return path_; }
  std::string File(const std::string& name) const { return (Dir() / name).string(); }

 private:
  std::string path_;
};

}  // namespace wavebot::testing
