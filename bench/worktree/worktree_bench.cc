// Time to ready a ticket's worktree on a generated repository (5,000 files, ~20 MB): wavebot pooled
// and fresh (libgit2) against `git worktree add` (git CLI), interleaved in the same run, plus the disk
// used per ticket. Network is excluded for all three: each starts from an up-to-date local mirror.
//
//   build/bench/worktree/worktree_bench [--files 5000] [--file-bytes 4096] [--rounds 7] [--dir /tmp/x]
//
// Figures and the machine: docs/benchmarks-git.md.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "git/workspace.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

int Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time (user + system) in ms of this thread, or of the waited-for children.
double CpuMs(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int64_t DirBytes(const fs::path& p) {
  int64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(p)) {
    if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

void Generate(const fs::path& dir, int files, int bytes) {
  std::mt19937_64 rng(42);
  const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789 \n";
  for (int i = 0; i < files; ++i) {
    fs::path p = dir / ("dir" + std::to_string(i / 50)) / ("file" + std::to_string(i) + ".txt");
    fs::create_directories(p.parent_path());
    std::string s(static_cast<size_t>(bytes), ' ');
    for (auto& c : s) c = alphabet[rng() % (sizeof(alphabet) - 1)];
    std::ofstream(p) << s;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int files = 5000, file_bytes = 4096, rounds = 7;
  fs::path dir = fs::temp_directory_path() / "wavebot-worktree-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--files") files = std::atoi(argv[i + 1]);
    else if (a == "--file-bytes") file_bytes = std::atoi(argv[i + 1]);
    else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::path src = dir / "src", remote = dir / "remote.git", cli_mirror = dir / "cli-mirror.git";
  std::printf("generating %d files of %d bytes...\n", files, file_bytes);
  Generate(src, files, file_bytes);
  if (Sh("cd " + src.string() + " && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@b "
         "commit -qm seed && git clone -q --bare . " + remote.string() + " && git clone -q --mirror " +
         remote.string() + " " + cli_mirror.string()) != 0) {
    std::fprintf(stderr, "setup failed\n");
    return 1;
  }
  fs::create_directories(dir / "cli-worktrees");
  fs::create_directories(dir / "data");

  wavebot::git::WorkspaceOptions wo;
  wo.data_dir = (dir / "data").string();
  wo.repo_key = "bench/repo";
  wo.remote_url = remote.string();
  auto ws = wavebot::git::OpenWorkspace(wo);
  if (!ws.ok() || !(*ws)->Fetch().ok()) {
    std::fprintf(stderr, "workspace: %s\n", ws.ok() ? "fetch failed" : ws.error().ToString().c_str());
    return 1;
  }
  auto& workspace = **ws;

  std::vector<double> cli, fresh, pooled, cli_cpu, fresh_cpu, pooled_cpu;
  std::vector<std::unique_ptr<wavebot::git::TicketWorktree>> held;  // keeps the pool empty for "fresh"
  int ticket = 0;
  auto spec = [&](int n) {
    wavebot::git::TicketSpec s;
    s.ticket = n;
    s.branch = "wave/1-bench/" + std::to_string(n) + "-t";
    s.base_branch = "main";
    s.fetch = false;
    return s;
  };
  // One idle worktree that the pooled runs reuse; each pooled ticket leaves edits, untracked and
  // ignored-style output behind, as an agent would.
  {
    auto w = workspace.Acquire(spec(++ticket));
    if (!w.ok()) {
      std::fprintf(stderr, "acquire: %s\n", w.error().ToString().c_str());
      return 1;
    }
  }
  for (int r = 0; r < rounds; ++r) {
    // git CLI
    double c0 = CpuMs(RUSAGE_CHILDREN);
    auto t0 = Clock::now();
    std::string path = (dir / "cli-worktrees" / ("c" + std::to_string(r))).string();
    if (Sh("git --git-dir=" + cli_mirror.string() + " worktree add -q -b cli" + std::to_string(r) + " " + path +
           " main") != 0) {
      return 1;
    }
    cli.push_back(Ms(Clock::now() - t0));
    cli_cpu.push_back(CpuMs(RUSAGE_CHILDREN) - c0);

    // wavebot pooled: the idle worktree, after a previous ticket left changes behind.
    c0 = CpuMs(RUSAGE_THREAD);
    t0 = Clock::now();
    {
      auto w = workspace.Acquire(spec(++ticket));
      if (!w.ok() || !(*w)->reused()) {
        std::fprintf(stderr, "pooled acquire failed or not reused\n");
        return 1;
      }
      pooled.push_back(Ms(Clock::now() - t0));
      pooled_cpu.push_back(CpuMs(RUSAGE_THREAD) - c0);
      for (int k = 0; k < 10; ++k) std::ofstream(fs::path((*w)->path()) / ("dir" + std::to_string(k)) / "file0.txt") << "edited";
      std::ofstream(fs::path((*w)->path()) / "untracked-output.bin") << std::string(100000, 'x');
    }

    // wavebot fresh: the pool's only idle worktree is held, so a new one is created.
    auto idle = workspace.Acquire(spec(++ticket));
    c0 = CpuMs(RUSAGE_THREAD);
    t0 = Clock::now();
    auto w = workspace.Acquire(spec(++ticket));
    double ms = Ms(Clock::now() - t0);
    fresh_cpu.push_back(CpuMs(RUSAGE_THREAD) - c0);
    if (!w.ok() || (*w)->reused()) {
      std::fprintf(stderr, "fresh acquire failed\n");
      return 1;
    }
    fresh.push_back(ms);
    held.push_back(std::move(*w));
    idle->reset();  // back to the pool for the next pooled round
  }

  auto usage = workspace.Usage();
  int64_t mirror = usage->mirror_bytes;
  int64_t per_ticket = usage->worktree_bytes / std::max(1, usage->worktrees);
  int64_t clone_bytes = DirBytes(remote) + per_ticket;
  double c = Median(cli), f = Median(fresh), p = Median(pooled);
  std::printf("\nrepository: %d files, %.1f MB checked out; %d rounds, medians\n", files,
              per_ticket / 1048576.0, rounds);
  double cc = Median(cli_cpu), fc = Median(fresh_cpu), pc = Median(pooled_cpu);
  std::printf("%-32s %9s %9s %10s %10s\n", "ready a ticket's worktree", "wall ms", "cpu ms", "wall ratio", "cpu ratio");
  std::printf("%-32s %9.1f %9.1f %9.2fx %9.2fx\n", "git worktree add (git CLI)", c, cc, 1.0, 1.0);
  std::printf("%-32s %9.1f %9.1f %9.2fx %9.2fx\n", "wavebot fresh (libgit2)", f, fc, f / c, fc / cc);
  std::printf("%-32s %9.1f %9.1f %9.2fx %9.2fx\n", "wavebot pooled (reset + clean)", p, pc, p / c, pc / cc);
  std::printf("\ndisk: mirror (shared objects) %.1f MB; per ticket worktree %.1f MB (%d worktrees, %.1f MB "
              "total);\n      a clone per ticket would be %.1f MB each\n",
              mirror / 1048576.0, per_ticket / 1048576.0, usage->worktrees, usage->worktree_bytes / 1048576.0,
              clone_bytes / 1048576.0);
  held.clear();
  fs::remove_all(dir);
  return 0;
}
