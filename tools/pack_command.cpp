#include "pack_command.hpp"

#include "command_line.hpp"
#include "disk_tree.hpp"
#include "archive/size_argument.hpp"
#include "sevenzfs/version.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/lzma_settings.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>
#include <thread>

namespace sevenzfs::tools {

namespace {

constexpr const char* kUsage =
    "usage: sevenzfs-pack [OPTIONS] OUT.7z PATH...\n"
    "Packs files and directories into a 7z archive (like `7zz a`: a directory is\n"
    "stored under its own name with everything below it; symlinks are stored as links).\n"
    "\n"
    "  --mode batched|solid|hybrid  batched: a folder per file (random access);\n"
    "                               solid: files share folders (best ratio; default);\n"
    "                               hybrid: files under --hybrid-threshold solid, others batched\n"
    "  --level N                    0 (store) to 9, as 7-Zip's -mx (default 5)\n"
    "  --solid-block SIZE           bytes per solid folder (default 128 x dictionary,\n"
    "                               16M-4G, as 7-Zip; 16M at level 5 is 2G)\n"
    "  --solid-files N              files per solid folder (default: no limit)\n"
    "  --hybrid-threshold SIZE      size from which hybrid mode batches a file (default 1M)\n"
    "  --threads N                  compression threads (default: the number of cores)\n"
    "  -h, --help                   this text\n"
    "  -V, --version                the version\n"
    "Options take their value as --level 5 or --level=5. SIZE takes K, M, G or T\n"
    "suffixes (powers of 1024).\n"
    "Exit status: 0 written, 1 an input or the archive failed (nothing is left\n"
    "behind), 2 bad command line.\n";

struct pack_arguments {
  archive::write_options options;
  std::optional<std::uint64_t> solid_block;
  std::string output;
  std::vector<std::string> inputs;
  bool help = false;  // -h given with other short options (-hV)
  bool version = false;
};

struct usage_error {
  std::string message;
};

std::uint64_t parse_count(std::string_view option, std::string_view text, std::uint64_t minimum,
                          std::uint64_t maximum) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < minimum || value > maximum) {
    throw usage_error{fmt::format("{} expects a number from {} to {}, got '{}'", option, minimum, maximum, text)};
  }
  return value;
}

std::uint64_t parse_size_option(std::string_view option, std::string_view text) {
  const auto size = archive::parse_size(text);
  if (!size || *size == 0) throw usage_error{fmt::format("{} expects a size such as 64M, got '{}'", option, text)};
  return *size;
}

pack_arguments parse(const std::vector<std::string>& args) {
  pack_arguments parsed;
  auto& plan = parsed.options.plan;
  auto& compression = parsed.options.compression;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  compression.threads = cores;
  enum : int { kMode = 256, kLevel, kSolidBlock, kSolidFiles, kHybridThreshold, kThreads };
  static constexpr option kOptions[] = {{"mode", required_argument, nullptr, kMode},
                                        {"level", required_argument, nullptr, kLevel},
                                        {"solid-block", required_argument, nullptr, kSolidBlock},
                                        {"solid-files", required_argument, nullptr, kSolidFiles},
                                        {"hybrid-threshold", required_argument, nullptr, kHybridThreshold},
                                        {"threads", required_argument, nullptr, kThreads},
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
    const std::string_view value = next.value;
    switch (next.option) {
      case kMode: {
        const auto mode = archive::parse_pack_mode(value);
        if (!mode) throw usage_error{fmt::format("--mode expects batched, solid or hybrid, got '{}'", value)};
        plan.mode = *mode;
        break;
      }
      case kLevel: compression.level = static_cast<int>(parse_count("--level", value, 0, archive::kMaxLevel)); break;
      case kSolidBlock: parsed.solid_block = parse_size_option("--solid-block", value); break;
      case kSolidFiles: plan.solid_block_files = parse_count("--solid-files", value, 1, UINT32_MAX); break;
      case kHybridThreshold: plan.hybrid_threshold = parse_size_option("--hybrid-threshold", value); break;
      case kThreads:
        compression.threads = static_cast<unsigned>(parse_count("--threads", value, 1, std::max(256u, cores)));
        break;
      case 'h': parsed.help = true; return parsed;
      case 'V': parsed.version = true; return parsed;
      default: throw usage_error{fmt::format("unknown option '{}'", next.value)};
    }
  }
  if (parsed.output.empty() || parsed.inputs.empty()) throw usage_error{"expected OUT.7z and at least one PATH"};
  plan.solid_block_bytes = parsed.solid_block.value_or(archive::default_solid_block_bytes(compression.level));
  return parsed;
}

}  // namespace

int pack_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  // Help and version win over any other argument, also a wrong one.
  bool help = false;
  bool version = false;
  for (const auto& arg : args) {
    if (arg == "--") break;
    help = help || arg == "-h" || arg == "--help";
    version = version || arg == "-V" || arg == "--version";
  }
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
  try {
    const auto entries = collect_entries(parsed.inputs);
    const auto summary = archive::write_archive(parsed.output, entries, parsed.options);
    fmt::print(out, "{}: {} entries, {} folders, {} bytes in, {} bytes archive ({:.2f} %)\n", parsed.output,
               summary.entries, summary.folders, summary.input_bytes, summary.archive_bytes,
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
