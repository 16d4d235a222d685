#include "daemon.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  return sevenzfs::fs::run_daemon(std::vector<std::string>(argv + 1, argv + argc), stdout, stderr);
}
