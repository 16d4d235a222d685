#include "inode_table.hpp"

#include "archive/utf16.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <linux/fs.h>

#include <cerrno>
#include <optional>
#include <vector>

namespace sevenzfs::fs {

std::timespec current_time() noexcept {
  std::timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

result<void> check_entry_name(std::string_view name) {
  if (name.size() > 255) return failure(ENAMETOOLONG);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) return failure(EINVAL);
  // 7z stores names as Unicode: a name that is not UTF-8 could not be
  // committed, so it is refused now rather than failing every commit later.
  if (!archive::utf8_to_utf16le(name)) {
    std::string shown;
    for (const char c : name) {
      const auto byte = static_cast<unsigned char>(c);
      shown += byte >= 0x20 && byte < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", byte);
    }
    return failure(EILSEQ, fmt::format("'{}' is not a valid UTF-8 name: 7z stores names as Unicode", shown));
  }
  return {};
}

inode_table::inode_table(caller owner) {
  auto root = std::make_unique<inode>();
  root->number = kRootInode;
  root->kind = node_kind::directory;
  root->permissions = 0755;
  root->uid = owner.uid;
  root->gid = owner.gid;
  root->atime = root->mtime = root->ctime = current_time();
  root->entries = std::make_unique<directory_entries>();
  root->lookups = 1;
  nodes_.emplace(kRootInode, std::move(root));
}

inode* inode_table::find(inode_number number) const {
  const auto it = nodes_.find(number);
  return it == nodes_.end() ? nullptr : it->second.get();
}

result<inode_table::locked_node> inode_table::lock(inode_number number) {
  std::shared_lock table(mutex_);
  inode* node = find(number);
  if (node == nullptr) return failure(ENOENT);
  return locked_node(std::move(table), *node);
}

result<std::pair<inode*, inode*>> inode_table::entry(inode_number parent, std::string_view name) const {
  inode* directory = find(parent);
  if (directory == nullptr) return failure(ENOENT);
  if (!directory->is_directory()) return failure(ENOTDIR);
  const auto it = directory->entries->by_name.find(name);
  if (it == directory->entries->by_name.end()) return failure(ENOENT);
  return std::pair{directory, find(it->second.number)};
}

inode* inode_table::child(inode_number parent, std::string_view name) {
  std::shared_lock table(mutex_);
  const auto found = entry(parent, name);
  return found ? found->second : nullptr;
}

struct stat inode_table::reference(inode& node) {
  node.lookups.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard data(node.mutex);
  return stat_of(node);
}

result<struct stat> inode_table::lookup(inode_number parent, std::string_view name) {
  std::shared_lock table(mutex_);
  const auto found = entry(parent, name);
  if (!found) return std::unexpected(found.error());
  return reference(*found->second);
}

void inode_table::forget(inode_number number, std::uint64_t count) {
  {
    std::shared_lock table(mutex_);
    inode* node = find(number);
    if (node == nullptr) return;
    std::uint64_t lookups = node->lookups.load();
    while (!node->lookups.compare_exchange_weak(lookups, lookups - std::min(lookups, count))) {
    }
    if (lookups > count || node->parent != 0) return;
  }
  drop_if_unused(number);
}

void inode_table::drop_if_unused(inode_number number) {
  std::unique_lock table(mutex_);
  if (inode* node = find(number)) erase_if_unused(*node);
}

void inode_table::erase_if_unused(inode& node) {
  if (node.parent != 0 || node.number == kRootInode || node.lookups.load() > 0) return;
  {
    std::lock_guard data(node.mutex);
    if (node.writers > 0) return;
  }
  nodes_.erase(node.number);
}

void inode_table::attach(inode& directory, inode& child, std::string_view name) {
  auto& entries = *directory.entries;
  const std::uint64_t cookie = entries.next_cookie++;
  // The name first: the entry's key is a view of it.
  child.name = name;
  entries.by_name.emplace(child.name, directory_entries::child{child.number, cookie});
  entries.in_order.add(cookie, child.number);
  if (child.is_directory()) ++entries.subdirectories;
  child.parent = directory.number;
  directory.mtime = directory.ctime = current_time();
}

void inode_table::detach(inode& directory, std::string_view name) {
  auto& entries = *directory.entries;
  const auto it = entries.by_name.find(name);
  if (it == entries.by_name.end()) return;
  inode* child = find(it->second.number);
  if (child->is_directory()) --entries.subdirectories;
  entries.in_order.remove(it->second.cookie);
  entries.by_name.erase(it);
  child->parent = 0;
  directory.mtime = directory.ctime = current_time();
}

result<inode*> inode_table::create(inode_number parent, std::string_view name, node_kind kind,
                                   std::uint32_t permissions, const caller& owner,
                                   const std::function<void(inode&)>& init) {
  if (auto valid = check_entry_name(name); !valid) return std::unexpected(valid.error());
  std::unique_lock table(mutex_);
  inode* directory = find(parent);
  if (directory == nullptr) return failure(ENOENT);
  if (!directory->is_directory()) return failure(ENOTDIR);
  const std::string key(name);
  if (directory->entries->by_name.contains(key)) return failure(EEXIST);
  auto made = std::make_unique<inode>();
  inode& node = *made;
  node.number = next_number_++;
  node.kind = kind;
  node.permissions = permissions & 07777;
  node.uid = owner.uid;
  node.gid = owner.gid;
  node.atime = node.mtime = node.ctime = current_time();
  if (kind == node_kind::directory) node.entries = std::make_unique<directory_entries>();
  if (init) init(node);
  nodes_.emplace(node.number, std::move(made));
  attach(*directory, node, key);
  return &node;
}

result<void> inode_table::remove(inode_number parent, std::string_view name, bool directory) {
  std::unique_lock table(mutex_);
  const auto found = entry(parent, name);
  if (!found) return std::unexpected(found.error());
  auto [dir, child] = *found;
  if (directory && !child->is_directory()) return failure(ENOTDIR);
  if (!directory && child->is_directory()) return failure(EISDIR);
  if (directory && !child->entries->by_name.empty()) return failure(ENOTEMPTY);
  if (auto droppable = may_drop(*child); !droppable) return droppable;
  detach(*dir, name);
  erase_if_unused(*child);
  return {};
}

result<void> inode_table::rename(inode_number parent, std::string_view name, inode_number new_parent,
                                 std::string_view new_name, unsigned flags) {
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return failure(EINVAL);
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return failure(EINVAL);
  if (auto valid = check_entry_name(new_name); !valid) return std::unexpected(valid.error());
  std::unique_lock table(mutex_);
  const auto found = entry(parent, name);
  if (!found) return std::unexpected(found.error());
  auto [from, moving] = *found;
  inode* to = find(new_parent);
  if (to == nullptr) return failure(ENOENT);
  if (!to->is_directory()) return failure(ENOTDIR);
  // A directory cannot move below itself.
  if (is_within(*to, *moving)) return failure(EINVAL);
  if (flags & RENAME_EXCHANGE) return exchange(*from, *moving, *to, std::string(new_name));
  const std::string target_name(new_name);
  const auto target = to->entries->by_name.find(target_name);
  if (target != to->entries->by_name.end()) {
    if (target->second.number == moving->number) return {};
    if (flags & RENAME_NOREPLACE) return failure(EEXIST);
    inode* replaced = find(target->second.number);
    if (replaced->is_directory()) {
      if (!moving->is_directory()) return failure(EISDIR);
      if (!replaced->entries->by_name.empty()) return failure(ENOTEMPTY);
    } else if (moving->is_directory()) {
      return failure(ENOTDIR);
    } else if (auto droppable = may_drop(*replaced); !droppable) {
      return droppable;
    }
    detach(*to, target_name);
    erase_if_unused(*replaced);
  }
  detach(*from, name);
  attach(*to, *moving, target_name);
  std::lock_guard data(moving->mutex);
  moving->ctime = current_time();
  return {};
}

bool inode_table::is_within(const inode& node, const inode& directory) const {
  for (const inode* at = &node; at != nullptr && at->number != kRootInode; at = find(at->parent)) {
    if (at->number == directory.number) return true;
  }
  return false;
}

// RENAME_EXCHANGE: both names stay, their nodes trade places (the exclusive
// table lock held). Either may be a directory, as long as neither ends up
// below itself.
result<void> inode_table::exchange(inode& from, inode& moving, inode& to, const std::string& target_name) {
  const auto target = to.entries->by_name.find(target_name);
  if (target == to.entries->by_name.end()) return failure(ENOENT);
  inode& other = *find(target->second.number);
  if (other.number == moving.number) return {};
  if (is_within(from, other)) return failure(EINVAL);
  const std::string name = moving.name;
  detach(from, name);
  detach(to, target_name);
  attach(to, moving, target_name);
  attach(from, other, name);
  const std::timespec now = current_time();
  for (inode* node : {&moving, &other}) {
    std::lock_guard data(node->mutex);
    node->ctime = now;
  }
  return {};
}

result<void> inode_table::list(inode_number number, off_t offset, const directory_sink& add) {
  std::shared_lock table(mutex_);
  const inode* directory = find(number);
  if (directory == nullptr) return failure(ENOENT);
  if (!directory->is_directory()) return failure(ENOTDIR);
  // Offsets: 1 = ".", 2 = "..", then child cookies + 2.
  struct stat st {};
  st.st_mode = S_IFDIR;
  if (offset < 1) {
    st.st_ino = directory->number;
    if (!add(".", st, 1)) return {};
  }
  if (offset < 2) {
    st.st_ino = directory->parent != 0 ? directory->parent : directory->number;
    if (!add("..", st, 2)) return {};
  }
  const std::uint64_t after = offset > 2 ? static_cast<std::uint64_t>(offset) - 2 : 0;
  const auto& entries = *directory->entries;
  entries.in_order.visit_after(after, [&](std::uint64_t cookie, inode_number child_number) {
    const inode* child = find(child_number);
    st.st_ino = child->number;
    st.st_mode = archive::type_bits(child->kind);
    return add(child->name, st, static_cast<off_t>(cookie + 2));
  });
  return {};
}

struct stat inode_table::stat_of(const inode& node) const {
  struct stat st {};
  st.st_ino = node.number;
  st.st_mode = archive::type_bits(node.kind) | node.permissions;
  st.st_nlink = node.is_directory() ? 2 + node.entries->subdirectories : (node.parent != 0 ? 1 : 0);
  st.st_uid = node.uid;
  st.st_gid = node.gid;
  const std::uint64_t size = node.size();
  st.st_size = static_cast<off_t>(size);
  st.st_blksize = kIoBytes;
  st.st_blocks = static_cast<blkcnt_t>((size + 511) / 512);
  st.st_atim = node.atime;
  st.st_mtim = node.mtime;
  st.st_ctim = node.ctime;
  return st;
}

result<void> inode_table::may_drop(inode& node) const {
  if (node.is_directory()) return {};
  std::lock_guard data(node.mutex);
  auto droppable = node.content.replaceable();
  if (!droppable) droppable.error().message = fmt::format("{}: {}", path_of(node), droppable.error().message);
  return droppable;
}

std::string inode_table::path_of(const inode& node) const {
  std::vector<const std::string*> parts;
  for (const inode* at = &node; at->number != kRootInode && at->parent != 0; at = find(at->parent)) {
    parts.push_back(&at->name);
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!path.empty()) path += '/';
    path += **it;
  }
  return path;
}

std::size_t inode_table::node_count() const {
  std::shared_lock table(mutex_);
  return nodes_.size();
}

tree_figures inode_table::figures() {
  constexpr std::uint64_t kSmall = 16 * 1024;
  constexpr std::uint64_t kMedium = 1024 * 1024;
  tree_figures counted;
  for_each([&](inode& node) {
    if (node.parent == 0 && node.number != kRootInode) return;  // unlinked, only still open
    if (node.is_directory()) {
      ++counted.directories;
      return;
    }
    std::lock_guard data(node.mutex);
    const std::uint64_t size = node.size();
    ++counted.files;
    ++(size < kSmall ? counted.files_under_16k : size < kMedium ? counted.files_under_1m : counted.files_1m_or_more);
    if (node.content.dirty()) {
      ++counted.staged_files;
      // Saturating: two sparse files of 2^63-1 bytes wrapped the sum.
      counted.staged_bytes = size > UINT64_MAX - counted.staged_bytes ? UINT64_MAX : counted.staged_bytes + size;
    }
  });
  return counted;
}

void inode_table::walk(const std::function<void(const std::string& path, inode& node)>& visit) {
  std::shared_lock table(mutex_);
  // In pre-order, each directory's entries in their order: the order
  // `cp -r` and `tar x` close files in, which is the order sealed files reach
  // the compressor (seal_closed_files) and staged files a commit's folders.
  // (Taken from a stack of whole directories, sibling directories went in
  // reverse: read back in the order written, a solid folder's decoders then
  // started over from its beginning.) Each level resumes after the cookie
  // of the subdirectory it descended into.
  struct level {
    inode* directory;
    std::string path;
    std::uint64_t after = 0;
  };
  std::vector<level> levels{{find(kRootInode), "", 0}};
  while (!levels.empty()) {
    const level& current = levels.back();
    std::optional<level> below;
    current.directory->entries->in_order.visit_after(current.after, [&](std::uint64_t cookie, inode_number number) {
      inode& node = *find(number);
      std::string path = current.path.empty() ? node.name : current.path + "/" + node.name;
      visit(path, node);
      if (!node.is_directory()) return true;
      levels.back().after = cookie;
      below = level{&node, std::move(path)};
      return false;
    });
    if (below) {
      levels.push_back(std::move(*below));
    } else {
      levels.pop_back();
    }
  }
}

void inode_table::for_each(const std::function<void(inode& node)>& visit) {
  std::shared_lock table(mutex_);
  for (auto& [number, node] : nodes_) visit(*node);
}

}  // namespace sevenzfs::fs
