#pragma once
// A model of a directory tree for tests: what its files hold, where its
// symlinks point, which directories it has; written to and read from a file
// (a writer process hands its model to the test), read from a real tree,
// and compared.
#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace sevenzfs::test {

// Paths relative to the tree's root.
struct tree_model {
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> links;
  std::set<std::string> directories;
};

void save_model(const tree_model& model, const std::filesystem::path& where);
// Adds what `from` holds to `model`.
void load_model(const std::filesystem::path& from, tree_model& model);
tree_model model_of_disk(const std::filesystem::path& root);
// The first differences between two models, one per line, or "".
std::string differences(const tree_model& want, const tree_model& got);

}  // namespace sevenzfs::test
