#include "pack_command.hpp"

#include "command_line.hpp"
#include "disk_tree.hpp"
#include "sevenzfs/version.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/file_io.hpp"
#include "archive/header_serializer.hpp"
#include "archive/write_settings.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <cstring>
#include <fstream>
#include <optional>

namespace sevenzfs::tools {

namespace {

constexpr const char* kUsage =
    "usage: sevenzfs-pack [OPTIONS] OUT.7z PATH...\n"
    "Packs files and directories into a 7z archive (like `7zz a`: a directory is\n"
    "stored under its own name with everything below it; symlinks are stored as\n"
    "links, but a PATH that names one with a trailing slash, link/, is followed\n"
    "as by cp -r and tar).\n"
    "\n"
    "  --mode batched|solid|hybrid  batched: a folder per file (random access);\n"
    "                               solid: files share folders (best ratio; default);\n"
    "                               hybrid: files under --hybrid-threshold solid, others batched\n"
    "  --level N                    0 (store) to 9, as 7-Zip's -mx (default 5)\n"
    "  --solid-block SIZE           bytes per solid folder (default 128 x the dictionary,\n"
    "                               within 16M-4G, as 7-Zip: 2G at level 5)\n"
    "  --solid-files N              files per solid folder (default: no limit)\n"
    "  --hybrid-threshold SIZE      size from which hybrid mode batches a file (default 1M)\n"
    "  --threads N                  compression threads (default: the number of cores)\n"
    "  -h, --help                   this text\n"
    "  -V, --version                the version\n"
    "Options take their value as --level 5 or --level=5. SIZE takes K, M, G or T\n"
    "suffixes (powers of 1024).\n"
    "An existing OUT.7z is replaced once the new archive is complete; an existing\n"
    "file that is neither a 7z archive nor empty, or an archive sevenzfs has\n"
    "mounted, is not replaced (exit 1).\n"
    "Exit status: 0 written, 1 an input or the archive failed (nothing is left\n"
    "behind), 2 bad command line.\n";

struct pack_arguments {
  archive::write_options options;
  std::string output;
  std::vector<std::string> inputs;
  bool help = false;  // -h given with other short options (-hV)
  bool version = false;
};

struct usage_error {
  std::string message;
};

pack_arguments parse(const std::vector<std::string>& args) {
  pack_arguments parsed;
  archive::write_settings settings;
  // The long options are the write settings' keys, spelled with '-'.
  constexpr int kSetting = 256;
  static constexpr option kOptions[] = {{"mode", required_argument, nullptr, kSetting},
                                        {"level", required_argument, nullptr, kSetting},
                                        {"solid-block", required_argument, nullptr, kSetting},
                                        {"solid-files", required_argument, nullptr, kSetting},
                                        {"hybrid-threshold", required_argument, nullptr, kSetting},
                                        {"threads", required_argument, nullptr, kSetting},
                                        {"help", no_argument, nullptr, 'h'},
                                        {"version", no_argument, nullptr, 'V'},
                                        {nullptr, 0, nullptr, 0}};
  command_line line(args, "hV");
  for (;;) {
    const auto next = line.next(kOptions);
    if (next.what == command_line::item::kind::end) break;
    if (next.what == command_line::item::kind::positional) {
      (parsed.output.empty() ? parsed.output : parsed.inputs.emplace_back()) = next.value;
      continue;
    }
    if (next.what == command_line::item::kind::error) throw usage_error{next.value};
    if (next.option == 'h') {
      parsed.help = true;
      return parsed;
    }
    if (next.option == 'V') {
      parsed.version = true;
      return parsed;
    }
    const auto error = settings.set(next.name, next.value);
    if (!error) throw usage_error{fmt::format("unknown option '--{}'", next.name)};
    if (!error->empty()) throw usage_error{"--" + *error};
  }
  if (parsed.output.empty() || parsed.inputs.empty()) throw usage_error{"expected OUT.7z and at least one PATH"};
  parsed.options = settings.finish();
  return parsed;
}

// Whether another open file description holds a lock on `path`, a regular
// file (opening a FIFO would wait for a writer; a device may act on opens).
bool locked(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  archive::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) return false;
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  return ::fcntl(fd.get(), F_OFD_GETLK, &whole) == 0 && whole.l_type != F_UNLCK;
}

// Who mounts the archive at `path`, if a sevenzfs daemon does: it holds an
// open-file-description lock on ARCHIVE.lock for the whole mount (also
// before the archive exists) and names itself there, and one on the archive
// file (found under another name too). See fs/archive_lock.hpp.
std::optional<std::string> mounted_by(const std::string& path) {
  const std::string lock_path = path + ".lock";
  if (!locked(lock_path) && !locked(path)) return std::nullopt;
  std::ifstream lock(lock_path);
  std::string holder;
  std::getline(lock, holder);
  return holder.empty() ? std::string("a daemon") : holder;
}

// Why an existing OUT must not be replaced, or "": only a 7z archive (or an
// empty file, as mktemp makes) is. Swapped arguments (`sevenzfs-pack
// notes.txt backup.7z`) or an input named as OUT would be lost otherwise;
// so would a FIFO or a device node; and a mounted archive's mount would
// commit no more. A directory would fail only at the final rename, after
// all the work.
std::string replace_problem(const std::string& output) {
  if (const auto holder = mounted_by(output)) {
    return fmt::format(
        "{}: is mounted by sevenzfs ({}); not replacing it (that mount could commit no more): "
        "unmount it first",
        output, *holder);
  }
  struct stat st {};
  if (::stat(output.c_str(), &st) != 0) return "";
  if (!S_ISREG(st.st_mode)) {
    return S_ISDIR(st.st_mode) ? fmt::format("{}: is a directory; OUT names the archive file to write", output)
                               : fmt::format("{}: exists and is not a regular file; not replacing it", output);
  }
  if (st.st_size == 0) return "";
  std::array<char, archive::kSignature.size()> start{};
  std::ifstream file(output, std::ios::binary);
  file.read(start.data(), start.size());
  if (file && std::memcmp(start.data(), archive::kSignature.data(), start.size()) == 0) return "";
  return fmt::format("{}: exists and is not a 7z archive; not replacing it (remove it first)", output);
}

std::string counted(std::uint64_t count, const char* one, const char* many) {
  return fmt::format("{} {}", count, count == 1 ? one : many);
}

}  // namespace

int pack_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  const auto [help, version] = asks_for_help_or_version(args);
  pack_arguments parsed;
  if (!help && !version) {
    try {
      parsed = parse(args);
    } catch (const usage_error& e) {
      fmt::print(err, "sevenzfs-pack: {}\n(see sevenzfs-pack --help)\n", e.message);
      return kPackUsage;
    }
  }
  if (help || parsed.help) {
    fmt::print(out, "{}", kUsage);
    return kPackOk;
  }
  if (version || parsed.version) {
    fmt::print(out, "sevenzfs-pack {}\n", kVersion);
    return kPackOk;
  }
  if (const auto problem = replace_problem(parsed.output); !problem.empty()) {
    fmt::print(err, "sevenzfs-pack: {}\n", problem);
    return kPackFailed;
  }
  try {
    const auto entries = collect_entries(parsed.inputs);
    const auto summary = archive::write_archive(parsed.output, entries, parsed.options);
    fmt::print(out, "{}: {}, {}, {} bytes in, {} bytes archive ({:.2f} %)\n", parsed.output,
               counted(summary.entries, "entry", "entries"), counted(summary.folders, "folder", "folders"),
               summary.input_bytes, summary.archive_bytes,
               summary.input_bytes
                   ? 100.0 * static_cast<double>(summary.archive_bytes) / static_cast<double>(summary.input_bytes)
                   : 0.0);
    return kPackOk;
  } catch (const archive::archive_error& e) {
    fmt::print(err, "sevenzfs-pack: {}\n", e.what());
    return kPackFailed;
  } catch (const std::exception& e) {
    fmt::print(err, "sevenzfs-pack: {}\n", e.what());
    return kPackFailed;
  }
}

}  // namespace sevenzfs::tools
