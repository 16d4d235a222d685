#include "command_line.hpp"

#include <fmt/format.h>

namespace sevenzfs::tools {

help_or_version asks_for_help_or_version(const std::vector<std::string>& args) {
  help_or_version asked;
  for (const auto& arg : args) {
    if (arg == "--") break;
    asked.help = asked.help || arg == "-h" || arg == "--help";
    asked.version = asked.version || arg == "-V" || arg == "--version";
  }
  return asked;
}

command_line::command_line(const std::vector<std::string>& args, const std::string& short_options)
    : short_options_("-:" + short_options) {
  storage_.reserve(args.size() + 1);
  storage_.emplace_back("program");
  storage_.insert(storage_.end(), args.begin(), args.end());
  for (auto& arg : storage_) argv_.push_back(arg.data());
  argv_.push_back(nullptr);
  // 0, not 1: glibc then also forgets the state of a previous parse.
  optind = 0;
  opterr = 0;
}

command_line::item command_line::next(const option* long_options) {
  const int argc = static_cast<int>(argv_.size() - 1);
  if (!options_ended_) {
    // The leading '-' makes getopt return positional arguments in order (as
    // 1) instead of permuting argv, also under POSIXLY_CORRECT.
    int index = -1;
    const int code = getopt_long(argc, argv_.data(), short_options_.c_str(), long_options, &index);
    if (code == 1) return {item::kind::positional, 0, optarg, {}};
    if (code == ':' || code == '?') {
      const std::string given = optind > 0 && optind <= argc ? argv_[static_cast<std::size_t>(optind - 1)] : "";
      std::string name =
          optopt != 0 && optopt < 256 && !given.starts_with("--") ? fmt::format("-{}", char(optopt)) : given;
      if (const auto equals = name.find('='); equals != std::string::npos && code == '?') {
        // --flag=value for an option that takes none
        const std::string flag = name.substr(0, equals);
        for (const option* o = long_options; o && o->name; ++o) {
          if (flag == fmt::format("--{}", o->name))
            return {item::kind::error, 0, fmt::format("{} takes no value", flag), {}};
        }
        name = flag;
      }
      if (code == ':') return {item::kind::error, 0, fmt::format("{} needs a value", name), {}};
      return {item::kind::error, 0, fmt::format("unknown option '{}'", name), {}};
    }
    if (code != -1) {
      std::string name = index >= 0 ? long_options[index].name : std::string(1, static_cast<char>(code));
      return {item::kind::option, code, optarg ? optarg : "", std::move(name)};
    }
    // -1: the end, or "--" (everything after it is positional).
    options_ended_ = true;
  }
  if (optind < argc) return {item::kind::positional, 0, argv_[static_cast<std::size_t>(optind++)], {}};
  return {};
}

}  // namespace sevenzfs::tools
