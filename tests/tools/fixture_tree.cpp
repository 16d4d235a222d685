#include "fixture_tree.hpp"

#include "test_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>

namespace sevenzfs::test {

namespace fs = std::filesystem;

namespace {

void set_mtime(const fs::path& path, std::time_t seconds) {
  const timespec times[2] = {{seconds, 0}, {seconds, 0}};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    throw std::runtime_error("utimensat failed on " + path.string());
  }
}

std::string text_content(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  const char* words[] = {"request ", "object ", "\"bucket\": ", "cache ", "miss ", "hit ", "200 ", "404\n", "{", "}\n"};
  std::string text;
  while (text.size() < size) text += words[rng() % 10];
  text.resize(size);
  return text;
}

std::string random_content(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

struct node_info {
  char type;
  std::string detail;  // content, or link target
  unsigned mode;
  std::time_t mtime;
};

void collect(const fs::path& root, const fs::path& dir, std::map<std::string, node_info>& out) {
  for (const auto& item : fs::directory_iterator(dir)) {
    struct stat st {};
    ::lstat(item.path().c_str(), &st);
    // Lexically: fs::relative would resolve a symlink to its target's name.
    const std::string rel = item.path().lexically_relative(root).string();
    node_info info{'?', {}, static_cast<unsigned>(st.st_mode & 07777), st.st_mtim.tv_sec};
    if (S_ISDIR(st.st_mode)) {
      info.type = 'd';
      collect(root, item.path(), out);
    } else if (S_ISLNK(st.st_mode)) {
      info.type = 'l';
      info.detail = fs::read_symlink(item.path()).string();
    } else if (S_ISREG(st.st_mode)) {
      info.type = 'f';
      info.detail = read_file(item.path());
    }
    out[rel] = info;
  }
}

}  // namespace

void make_fixture_tree(const fs::path& root, const fixture_options& options) {
  std::time_t t = 1'600'000'000;
  fs::create_directories(root);
  write_file(root / "plain.txt", "hello\nworld!!\nhello\n");
  write_file(root / "with space.txt", "spaces in the name\n");
  write_file(root / "\xc3\xbcn\xc3\xaf\x63\xc3\xb6\x64\xc3\xa9-\xe5\x90\x8d\xe5\x89\x8d.txt", "unicode name\n");
  if (options.non_bmp_names) write_file(root / "emoji-\xf0\x9f\x98\x80.txt", "emoji name\n");
  write_file(root / (std::string(251, 'a') + ".txt"), "255-byte name\n");
  std::string accents;
  for (int i = 0; i < 127; ++i) accents += "\xc3\xa9";
  write_file(root / accents, "254-byte UTF-8 name\n");
  fs::path deep = root / "deep";
  for (int i = 0; i < 40; ++i) deep /= std::string("d").append(std::to_string(i));
  fs::create_directories(deep);
  write_file(deep / "leaf.txt", "at the bottom\n");
  write_file(root / "empty", "");
  fs::create_directories(root / "emptydir");
  fs::create_directories(root / "data");
  write_file(root / "data" / "big.log", text_content(3 << 20, 1));
  write_file(root / "data" / "noise.bin", random_content(200000, 2));
  for (int i = 0; i < 150; ++i) {
    write_file(root / "data" / ("obj" + std::to_string(i) + (i % 2 ? ".json" : ".log")),
               text_content(100 + static_cast<std::size_t>(i) * 97, static_cast<unsigned>(i + 10)));
  }
  write_file(root / "exec.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(root / "exec.sh", static_cast<fs::perms>(0755));
  write_file(root / "readonly.txt", "read only\n");
  fs::permissions(root / "readonly.txt", static_cast<fs::perms>(0444));
  write_file(root / "private", "secret\n");
  fs::permissions(root / "private", static_cast<fs::perms>(0600));
  fs::permissions(root / "emptydir", static_cast<fs::perms>(0700));
  fs::create_symlink("plain.txt", root / "link");
  fs::create_symlink("deep/d0", root / "dirlink");
  fs::create_symlink("does/not/exist", root / "dangling");

  // Fixed, distinct mtimes, deepest first so a directory's time is not
  // disturbed by setting its children's.
  std::vector<fs::path> all;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    all.push_back(it->path());
  }
  std::sort(all.begin(), all.end(), [](const fs::path& a, const fs::path& b) { return a.string() > b.string(); });
  for (const auto& p : all) set_mtime(p, t += 3601);
  set_mtime(root, t += 3601);
}

std::vector<std::string> compare_trees(const fs::path& expected, const fs::path& actual) {
  std::map<std::string, node_info> want;
  std::map<std::string, node_info> got;
  collect(expected, expected, want);
  collect(actual, actual, got);
  std::vector<std::string> problems;
  for (const auto& [name, w] : want) {
    const auto it = got.find(name);
    if (it == got.end()) {
      problems.push_back("missing: " + name);
      continue;
    }
    const auto& g = it->second;
    if (g.type != w.type)
      problems.push_back("type differs: " + name);
    else if (g.detail != w.detail)
      problems.push_back((w.type == 'l' ? "link target differs: " : "content differs: ") + name);
    if (w.type != 'l' && g.mode != w.mode) {
      problems.push_back("mode differs: " + name + " " + std::to_string(w.mode) + " vs " + std::to_string(g.mode));
    }
    if (w.type != 'l' && g.mtime != w.mtime) problems.push_back("mtime differs: " + name);
  }
  for (const auto& [name, g] : got) {
    if (!want.contains(name)) problems.push_back("unexpected: " + name);
  }
  return problems;
}

}  // namespace sevenzfs::test
