#include "tree_model.hpp"

#include "test_support.hpp"

#include <fmt/format.h>

#include <fstream>
#include <vector>

namespace sevenzfs::test {

namespace fs = std::filesystem;

// The model crosses from the writer process to the test as a file:
// records of kind, path length, path, content length, content.
void save_model(const tree_model& model, const fs::path& where) {
  std::ofstream out(where, std::ios::binary);
  const auto put = [&](char kind, const std::string& path, const std::string& content) {
    out << kind << path.size() << ' ' << path << content.size() << ' ' << content;
  };
  for (const auto& [path, content] : model.files) put('f', path, content);
  for (const auto& [path, target] : model.links) put('l', path, target);
  for (const auto& path : model.directories) put('d', path, "");
}

void load_model(const fs::path& from, tree_model& model) {
  std::ifstream in(from, std::ios::binary);
  const auto get = [&](std::string& text) {
    std::size_t size = 0;
    in >> size;
    in.get();
    text.resize(size);
    in.read(text.data(), static_cast<std::streamsize>(size));
  };
  for (char kind; in.get(kind);) {
    std::string path, content;
    get(path);
    get(content);
    if (kind == 'f') model.files[path] = content;
    if (kind == 'l') model.links[path] = content;
    if (kind == 'd') model.directories.insert(path);
  }
}

tree_model model_of_disk(const fs::path& root) {
  tree_model model;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string path = fs::relative(it->path(), root).string();
    if (it->is_symlink())
      model.links[path] = fs::read_symlink(it->path()).string();
    else if (it->is_directory())
      model.directories.insert(path);
    else
      model.files[path] = read_file(it->path());
  }
  return model;
}

std::string differences(const tree_model& want, const tree_model& got) {
  std::vector<std::string> found;
  const auto compare = [&](const auto& a, const auto& b, const char* what) {
    for (const auto& [path, content] : a) {
      const auto it = b.find(path);
      if (it == b.end())
        found.push_back(fmt::format("{} {} missing", what, path));
      else if (it->second != content)
        found.push_back(
            fmt::format("{} {} differs ({} bytes, {} expected)", what, path, it->second.size(), content.size()));
    }
    for (const auto& [path, content] : b) {
      if (!a.contains(path)) found.push_back(fmt::format("{} {} should not be there", what, path));
    }
  };
  compare(want.files, got.files, "file");
  compare(want.links, got.links, "symlink");
  for (const auto& d : want.directories)
    if (!got.directories.contains(d)) found.push_back("directory " + d + " missing");
  for (const auto& d : got.directories)
    if (!want.directories.contains(d)) found.push_back("directory " + d + " should not be there");
  std::string text;
  for (std::size_t k = 0; k < found.size() && k < 20; ++k) text += found[k] + "\n";
  if (found.size() > 20) text += fmt::format("... {} differences in all\n", found.size());
  return text;
}

}  // namespace sevenzfs::test
