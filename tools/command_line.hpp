#pragma once
// getopt_long over a vector of arguments, so that a program's whole command
// line runs in-process in tests: `--opt=value`, `--opt value`, `-o value`,
// `-ovalue`, options after positional arguments, and `--` all work as in
// other GNU tools. getopt's state is process-wide: parse one command line at
// a time.
#include <getopt.h>

#include <string>
#include <vector>

namespace sevenzfs::tools {

// -h/--help and -V/--version before any "--": they win over every other
// argument, also a wrong one, so that a user can always read the usage.
struct help_or_version {
  bool help = false;
  bool version = false;
};
help_or_version asks_for_help_or_version(const std::vector<std::string>& args);

class command_line {
 public:
  struct item {
    enum class kind { option, positional, error, end };
    kind what = kind::end;
    int option = 0;     // the short option character or the long option's `val`
    std::string value;  // the option's argument, the positional argument, or an error message
    std::string name;   // the option as given: the long option's name ("level") or the short letter
  };

  // `short_options` as for getopt ("hVo:"); a leading '-' and ':' are added.
  command_line(const std::vector<std::string>& args, const std::string& short_options);

  // The next option or positional argument, in command-line order.
  item next(const option* long_options);

 private:
  std::vector<std::string> storage_;
  std::vector<char*> argv_;
  std::string short_options_;
  bool options_ended_ = false;
};

}  // namespace sevenzfs::tools
