#include "ctl_fakes.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

namespace sevenzfs::test {

namespace {

class forwarding_xattrs final : public tools::root_xattrs {
 public:
  explicit forwarding_xattrs(fake_daemon& daemon) : daemon_(daemon) {}
  std::expected<std::string, int> get(std::string_view key) override { return daemon_.get(key); }
  int set(std::string_view key) override { return daemon_.set(key); }

 private:
  fake_daemon& daemon_;
};

}  // namespace

captured capture(const std::function<int(std::FILE*, std::FILE*)>& program) {
  char* out_text = nullptr;
  char* err_text = nullptr;
  std::size_t out_size = 0;
  std::size_t err_size = 0;
  std::FILE* out = ::open_memstream(&out_text, &out_size);
  std::FILE* err = ::open_memstream(&err_text, &err_size);
  captured result;
  result.exit_code = program(out, err);
  std::fclose(out);
  std::fclose(err);
  result.out.assign(out_text, out_size);
  result.err.assign(err_text, err_size);
  std::free(out_text);
  std::free(err_text);
  return result;
}

void fake_daemon::set_value(const std::string& key, std::string value) {
  std::lock_guard lock(mutex_);
  values_[key] = std::move(value);
}

void fake_daemon::fail_reads(int error) {
  std::lock_guard lock(mutex_);
  read_error_ = error;
}

void fake_daemon::on_control(const std::string& control, std::function<int()> action) {
  std::lock_guard lock(mutex_);
  actions_[control] = std::move(action);
}

std::vector<std::string> fake_daemon::controls_set() const {
  std::lock_guard lock(mutex_);
  return controls_set_;
}

std::expected<std::string, int> fake_daemon::get(std::string_view key) {
  std::lock_guard lock(mutex_);
  if (read_error_ != 0) return std::unexpected(read_error_);
  const auto found = values_.find(key);
  if (found == values_.end()) return std::unexpected(ENODATA);
  return found->second;
}

int fake_daemon::set(std::string_view key) {
  std::function<int()> action;
  {
    std::lock_guard lock(mutex_);
    controls_set_.emplace_back(key);
    if (const auto found = actions_.find(key); found != actions_.end()) action = found->second;
  }
  return action ? action() : 0;
}

std::unique_ptr<tools::root_xattrs> fake_daemon::open() { return std::make_unique<forwarding_xattrs>(*this); }

void write_mountinfo(const std::filesystem::path& file,
                     const std::vector<std::pair<std::string, std::string>>& mounts) {
  const auto escape = [](const std::string& text) {
    std::string escaped;
    for (const char c : text) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
        escaped += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
      } else {
        escaped += c;
      }
    }
    return escaped;
  };
  std::string text = "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";
  int id = 40;
  for (const auto& [mountpoint, fstype] : mounts) {
    text += fmt::format("{} 22 0:{} / {} rw,nosuid,nodev,relatime shared:{} - {} source{} rw,user_id=0\n", id, id,
                        escape(mountpoint), id, fstype, id);
    ++id;
  }
  // Replaced in one step: sevenzfs-ctl may be reading it from another thread.
  const auto temporary = file.string() + ".new";
  std::ofstream(temporary) << text;
  std::filesystem::rename(temporary, file);
}

}  // namespace sevenzfs::test
