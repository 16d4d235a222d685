#include "ctl_command.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  return sevenzfs::tools::ctl_main(std::vector<std::string>(argv + 1, argv + argc), stdout, stderr);
}
