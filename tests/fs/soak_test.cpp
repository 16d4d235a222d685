// Soak (slow, 70-120 s): several writer processes create, write,
// rewrite, rename and delete files, directories and symlinks in a mount
// while periodic commits run; each keeps a model of what its part of the
// tree must hold and reads files back through the mount as it goes. At the
// end the archive, extracted by 7zz, equals the models exactly, the daemon
// exits 0 with no sanitizer report in its log (tools/run-tests.sh runs this
// test against a daemon built with ASan+UBSan, -DSEVENZFS_SANITIZE), and its
// peak RSS stays within what its options allow.
//
// Files open for writing are appended to, overwritten, truncated and deleted
// while commits of closed files pass them by; closed files, archived or not,
// are renamed (also over another file), read, rewritten, appended to and
// deleted. The flush control commits everything, open files too, every two
// seconds besides the periodic commits.
#include "mount_fixture.hpp"
#include "tree_model.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>

namespace fs = std::filesystem;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

namespace {

constexpr int kWriters = 4;
constexpr auto kWorkTime = 75s;
// Also a bound on the work, so that the tree (and the daemon's memory for
// it) does not grow with the speed of the machine.
constexpr std::uint64_t kMaxSteps = 8000;
constexpr std::uint64_t kWriterBytes = std::uint64_t{4} << 20;  // a writer's live content at most
constexpr int kMaxOpenFiles = 4;
constexpr std::uint64_t kPoolMiB = 64;
constexpr std::uint64_t kCacheMiB = 16;
constexpr std::uint64_t kQuarantineMiB = 32;

struct open_file {
  std::string path;
  int fd = -1;
};

class writer {
 public:
  writer(const fs::path& mountpoint, int id) : mnt_(mountpoint), root_(fmt::format("w{}", id)), random_(1000 + id) {
    model_.directories.insert(root_);
  }

  // Returns "" or what went wrong.
  std::string work(std::chrono::steady_clock::time_point until) {
    if (::mkdir(full(root_).c_str(), 0755) != 0) return failed("mkdir " + root_);
    while (std::chrono::steady_clock::now() < until && steps_ < kMaxSteps) {
      if (auto problem = step(); !problem.empty()) return problem;
    }
    for (auto& f : open_) {
      if (::close(f.fd) != 0) return failed("close " + f.path);
    }
    open_.clear();
    return "";
  }

  const tree_model& model() const { return model_; }
  std::uint64_t steps() const { return steps_; }

 private:
  std::string full(const std::string& path) const { return (mnt_ / path).string(); }
  std::string failed(const std::string& what) const { return fmt::format("{}: {}", what, std::strerror(errno)); }
  std::size_t pick(std::size_t count) { return std::uniform_int_distribution<std::size_t>(0, count - 1)(random_); }

  std::uint64_t live_bytes() const {
    std::uint64_t total = 0;
    for (const auto& [path, content] : model_.files) total += content.size();
    return total;
  }

  // Half random bytes, half text: some compresses, some does not.
  std::string content(std::size_t size) {
    std::string bytes(size, '\0');
    const bool text = random_() % 2 == 0;
    for (std::size_t k = 0; k < size; ++k)
      bytes[k] = text ? static_cast<char>("sevenzfs soak\n"[(k + steps_) % 14]) : static_cast<char>(random_());
    return bytes;
  }
  std::size_t size_to_write() {
    if (live_bytes() > kWriterBytes) return random_() % 4096;
    const auto roll = random_() % 100;
    return roll < 70 ? random_() % 16384 : roll < 95 ? random_() % (256u << 10) : random_() % (1u << 20);
  }

  std::string fresh_name() {
    std::vector<std::string> dirs(model_.directories.begin(), model_.directories.end());
    return fmt::format("{}/n{}", dirs[pick(dirs.size())], next_name_++);
  }
  template <typename Map>
  std::string any_key(const Map& map) {
    auto it = map.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(map.size())));
    return it->first;
  }
  bool is_open(const std::string& path) const {
    return std::ranges::any_of(open_, [&](const open_file& f) { return f.path == path; });
  }
  bool has_children(const std::string& dir) const {
    const std::string prefix = dir + "/";
    const auto below = [&](const auto& map) {
      const auto it = map.lower_bound(prefix);
      return it != map.end() && std::string_view(*key_of(it)).starts_with(prefix);
    };
    return below(model_.files) || below(model_.links) || below(model_.directories);
  }
  template <typename It>
  static const std::string* key_of(It it) {
    if constexpr (requires { it->first; })
      return &it->first;
    else
      return &*it;
  }

  bool write_all(int fd, const std::string& bytes, off_t at) {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, at + static_cast<off_t>(done));
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  std::string create_closed() {
    const std::string path = fresh_name();
    const std::string bytes = content(size_to_write());
    const int fd = ::open(full(path).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) return failed("create " + path);
    const bool ok = write_all(fd, bytes, 0);
    if (::close(fd) != 0 || !ok) return failed("write " + path);
    model_.files[path] = bytes;
    return "";
  }

  std::string open_new() {
    const std::string path = fresh_name();
    const int fd = ::open(full(path).c_str(), O_CREAT | O_EXCL | O_RDWR, 0644);
    if (fd < 0) return failed("create " + path);
    open_.push_back({path, fd});
    model_.files[path] = "";
    return "";
  }

  // Appends, overwrites in the middle, or truncates and rewrites.
  std::string change_open() {
    auto& f = open_[pick(open_.size())];
    std::string& held = model_.files.at(f.path);
    const auto how = random_() % 3;
    if (how == 2 && ::ftruncate(f.fd, 0) != 0) return failed("ftruncate " + f.path);
    if (how == 2) held.clear();
    const std::string bytes = content(size_to_write());
    const std::size_t at = how == 1 && !held.empty() ? pick(held.size()) : held.size();
    if (!write_all(f.fd, bytes, static_cast<off_t>(at))) return failed("write " + f.path);
    if (held.size() < at + bytes.size()) held.resize(at + bytes.size());
    held.replace(at, bytes.size(), bytes);
    return "";
  }

  std::string close_open(bool unlink_first) {
    const std::size_t k = pick(open_.size());
    const open_file f = open_[k];
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(k));
    if (unlink_first) {
      if (::unlink(full(f.path).c_str()) != 0) return failed("unlink open " + f.path);
      model_.files.erase(f.path);
    }
    if (::close(f.fd) != 0) return failed("close " + f.path);
    return "";
  }

  std::string rename_file() {
    const std::string from = any_key(model_.files);
    const std::string to = fresh_name();
    if (::rename(full(from).c_str(), full(to).c_str()) != 0) return failed("rename " + from + " " + to);
    model_.files[to] = std::move(model_.files.at(from));
    model_.files.erase(from);
    for (auto& f : open_) {
      if (f.path == from) f.path = to;
    }
    return "";
  }

  std::string rename_directory() {
    std::vector<std::string> dirs(std::next(model_.directories.begin()), model_.directories.end());  // not the root
    if (dirs.empty()) return "";
    const std::string from = dirs[pick(dirs.size())];
    const std::string to = fmt::format("{}/d{}", root_, next_name_++);
    if (::rename(full(from).c_str(), full(to).c_str()) != 0) return failed("rename dir " + from + " " + to);
    const auto move_below = [&](auto& container) {
      std::remove_reference_t<decltype(container)> moved;
      for (auto& item : container) {
        const std::string& key = *key_of(&item);
        const bool below = key == from || key.starts_with(from + "/");
        const std::string new_key = below ? to + key.substr(from.size()) : key;
        if constexpr (requires { item.second; })
          moved.emplace(new_key, std::move(item.second));
        else
          moved.insert(new_key);
      }
      container = std::move(moved);
    };
    move_below(model_.files);
    move_below(model_.links);
    move_below(model_.directories);
    for (auto& f : open_) {
      if (f.path.starts_with(from + "/")) f.path = to + f.path.substr(from.size());
    }
    return "";
  }

  std::string make_directory() {
    const std::string path = fmt::format("{}/d{}", any_of_set(model_.directories), next_name_++);
    if (::mkdir(full(path).c_str(), 0755) != 0) return failed("mkdir " + path);
    model_.directories.insert(path);
    return "";
  }
  std::string any_of_set(const std::set<std::string>& set) {
    auto it = set.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(set.size())));
    return *it;
  }

  std::string remove_directory() {
    for (const auto& dir : model_.directories) {
      if (dir == root_ || has_children(dir)) continue;
      if (::rmdir(full(dir).c_str()) != 0) return failed("rmdir " + dir);
      model_.directories.erase(dir);
      return "";
    }
    return "";
  }

  std::string make_symlink() {
    const std::string path = fresh_name();
    const std::string target = fmt::format("target-{}", random_() % 100000);
    if (::symlink(target.c_str(), full(path).c_str()) != 0) return failed("symlink " + path);
    model_.links[path] = target;
    return "";
  }

  // Reads a file back through the mount: committed or not, it reads as written.
  std::string read_back() {
    const std::string path = any_key(model_.files);
    std::ifstream in(full(path), std::ios::binary);
    const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return failed("read " + path);
    if (got != model_.files.at(path)) {
      return fmt::format("{} reads {} bytes, not the {} written", path, got.size(), model_.files.at(path).size());
    }
    return "";
  }

  // Files that may be archived: deleted, rewritten, appended to, replaced.
  std::string remove_closed() {
    std::string path = any_key(model_.files);
    if (is_open(path)) return "";
    if (::unlink(full(path).c_str()) != 0) return failed("unlink " + path);
    model_.files.erase(path);
    return "";
  }
  std::string rewrite_closed() {
    const std::string path = any_key(model_.files);
    if (is_open(path)) return "";
    const std::string bytes = content(size_to_write());
    const int fd = ::open(full(path).c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) return failed("open " + path);
    const bool ok = write_all(fd, bytes, 0);
    if (::close(fd) != 0 || !ok) return failed("rewrite " + path);
    model_.files[path] = bytes;
    return "";
  }

  std::string append_closed() {
    const std::string path = any_key(model_.files);
    if (is_open(path)) return "";
    const std::string bytes = content(size_to_write() / 4);
    const int fd = ::open(full(path).c_str(), O_WRONLY | O_APPEND);
    if (fd < 0) return failed("open " + path);
    const bool ok = write_all_appending(fd, bytes);
    if (::close(fd) != 0 || !ok) return failed("append " + path);
    model_.files[path] += bytes;
    return "";
  }
  std::string rename_over() {
    const std::string from = any_key(model_.files);
    const std::string to = any_key(model_.files);
    if (from == to || is_open(from) || is_open(to)) return "";
    if (::rename(full(from).c_str(), full(to).c_str()) != 0) return failed("rename " + from + " over " + to);
    model_.files[to] = std::move(model_.files.at(from));
    model_.files.erase(from);
    return "";
  }
  static bool write_all_appending(int fd, const std::string& bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  std::string step() {
    ++steps_;
    const auto roll = random_() % 100;
    const bool have_closed = model_.files.size() > open_.size();
    if (roll < 22) return create_closed();
    if (roll < 30) return open_.size() < kMaxOpenFiles ? open_new() : close_open(false);
    if (roll < 52) return open_.empty() ? open_new() : change_open();
    if (roll < 58) return open_.empty() ? "" : close_open(false);
    if (roll < 62) return open_.empty() ? "" : close_open(true);
    if (roll < 72) return model_.files.empty() ? "" : rename_file();
    if (roll < 74) return rename_directory();
    if (roll < 78) return make_directory();
    if (roll < 80) return remove_directory();
    if (roll < 83) return make_symlink();
    if (roll < 91) return model_.files.empty() ? "" : read_back();
    if (!have_closed) return create_closed();
    if (roll < 94) return remove_closed();
    if (roll < 97) return rewrite_closed();
    return roll < 99 ? append_closed() : rename_over();
  }

  fs::path mnt_;
  std::string root_;
  std::mt19937_64 random_;
  tree_model model_;
  std::vector<open_file> open_;
  std::uint64_t next_name_ = 0;
  std::uint64_t steps_ = 0;
};

// The daemon's peak RSS may reach its pool and read cache, the parts
// compression holds (at most threads + 3 parts of half the pool over
// threads + 1; at level 1 parts are shorter still, four 256 KiB
// dictionaries) and a fixed part (libfuse's threads and buffers, the
// allocator's arenas, the tree and the archive's database; 96 MiB, as arenas
// grow with the cores). Measured: 90 MiB (bound 229).
// Under AddressSanitizer allocations have red zones and shadow bytes, and
// freed memory waits in a quarantine (capped through ASAN_OPTIONS below): the
// quarantine and 64 MiB more are allowed (measured: 149 MiB, bound 325).
std::uint64_t rss_bound_kib() {
  constexpr std::uint64_t kThreads = 2;  // as the options below say
  const std::uint64_t parts_kib = kPoolMiB * 1024 * (kThreads + 3) / (2 * (kThreads + 1));
  const std::uint64_t base_kib = (kPoolMiB + kCacheMiB + 96) * 1024 + parts_kib;
  const bool sanitized = std::string_view(SEVENZFS_DAEMON_SANITIZE).find("address") != std::string_view::npos;
  return sanitized ? base_kib + (kQuarantineMiB + 64) * 1024 : base_kib;
}

struct soak : mount_fixture {};

}  // namespace

TEST_F(soak, ManyWritersWithPeriodicCommitsEndWithTheArchiveEqualToTheModel) {
  const std::string options = fmt::format(
      "flush_interval=1,pool_size={}M,cache_size={}M,level=1,threads=2,solid_block=4M", kPoolMiB, kCacheMiB);
  daemon_process daemon(archive, mnt, options, log,
                        {fmt::format("ASAN_OPTIONS=quarantine_size_mb={}:detect_leaks=1", kQuarantineMiB),
                         "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"});
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();

  const auto until = std::chrono::steady_clock::now() + kWorkTime;
  std::vector<pid_t> children;
  for (int id = 0; id < kWriters; ++id) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      writer w(mnt, id);
      const std::string problem = w.work(until);
      save_model(w.model(), dir / fmt::format("model-{}", id));
      write_file(dir / fmt::format("report-{}", id), problem.empty() ? fmt::format("ok {} steps", w.steps()) : problem);
      ::_exit(problem.empty() ? 0 : 1);
    }
    children.push_back(child);
  }
  // Meanwhile the statistics are read, as a monitor would, until the
  // writers are done.
  std::vector<std::optional<int>> statuses(kWriters);
  const auto all_done = [&] {
    for (int id = 0; id < kWriters; ++id) {
      auto& status = statuses[static_cast<std::size_t>(id)];
      int raw = 0;
      if (!status && ::waitpid(children[static_cast<std::size_t>(id)], &raw, WNOHANG) > 0) status = raw;
    }
    return std::ranges::all_of(statuses, [](const auto& status) { return status.has_value(); });
  };
  std::uint64_t commits_seen = 0;
  const auto count_commits = [&] {
    const std::string commits = xattr(mnt, "user.sevenzfs.commits_total");
    if (!commits.starts_with("<errno")) commits_seen = std::stoull(commits);
  };
  while (!all_done() && std::chrono::steady_clock::now() < until + 60s) {
    std::this_thread::sleep_for(500ms);
    count_commits();
    ::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0);
  }
  ASSERT_TRUE(all_done()) << "the writers did not finish within a minute of their time";
  // Commits no longer stop the writers, who may be done before a loaded
  // machine finished the flushes asked meanwhile: those count too.
  count_commits();
  tree_model want;
  for (int id = 0; id < kWriters; ++id) {
    const int status = *statuses[static_cast<std::size_t>(id)];
    const std::string report = read_file(dir / fmt::format("report-{}", id));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer " << id << ": " << report;
    std::cout << fmt::format("writer {}: {}\n", id, report);
    load_model(dir / fmt::format("model-{}", id), want);
  }
  // Alone, 4-10 commits complete while the writers work; beside other tests
  // the writers (8,000 steps each, no longer stopped by commits) can be done
  // in 8 s, when two commits have.
  EXPECT_GE(commits_seen, 2u) << "periodic commits ran while the writers worked";

  EXPECT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  const std::string said = daemon.log();
  for (const char* report : {"Sanitizer", "runtime error:", "LeakSanitizer"})
    EXPECT_EQ(said.find(report), std::string::npos) << said;
  const auto rss = daemon.peak_rss_kib();
  ASSERT_TRUE(rss.has_value()) << "the daemon's peak RSS could not be measured";
  std::cout << fmt::format("daemon peak RSS {} MiB (bound {} MiB, sanitizers: '{}'); {} commits seen\n", *rss / 1024,
                           rss_bound_kib() / 1024, SEVENZFS_DAEMON_SANITIZE, commits_seen);
  EXPECT_LT(*rss, rss_bound_kib());

  ASSERT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  extract_all("x");
  const tree_model got = model_of_disk(dir / "x");
  std::uint64_t bytes = 0;
  for (const auto& [path, content] : want.files) bytes += content.size();
  std::cout << fmt::format("model: {} files ({} bytes), {} symlinks, {} directories\n", want.files.size(), bytes,
                           want.links.size(), want.directories.size());
  EXPECT_EQ(differences(want, got), "");
}
