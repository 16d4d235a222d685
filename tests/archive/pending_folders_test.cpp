// Streaming compression before commit: grouping, parts across file
// boundaries, read-back of what is pending, CRCs, the input bound, errors and
// cancellation.
#include "archive/pending_folders.hpp"

#include "archive/archive_error.hpp"
#include "archive/cached_reader.hpp"
#include "archive/crc32.hpp"
#include "archive/lzma_settings.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

// Redundant across any distance (blocks from a small vocabulary), so parts
// that were not primed would compress visibly worse.
std::vector<std::uint8_t> redundant(std::size_t size, std::uint32_t seed) {
  std::mt19937 vocabulary_rng(12345);  // shared by all files
  std::vector<std::vector<std::uint8_t>> vocabulary(64, std::vector<std::uint8_t>(512));
  for (auto& block : vocabulary) {
    for (auto& byte : block) byte = static_cast<std::uint8_t>(vocabulary_rng() % 251);
  }
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> data;
  while (data.size() < size) {
    const auto& block = vocabulary[rng() % vocabulary.size()];
    data.insert(data.end(), block.begin(), block.end());
  }
  data.resize(size);
  return data;
}

// Content that can be held back (to make the encoders "behind"), and counts
// the visits that reached it.
class gated_content final : public entry_content {
 public:
  struct gate {
    std::mutex mutex;
    std::condition_variable opened;
    bool open = true;
    int visits = 0;
    int free_visits = 0;  // the first ones pass while closed
    void set(bool value) {
      {
        std::lock_guard lock(mutex);
        open = value;
      }
      opened.notify_all();
    }
    // Waits until `count` visits have reached the gate (up to 10 s).
    bool wait_visited(int count = 1) {
      std::unique_lock lock(mutex);
      return opened.wait_for(lock, std::chrono::seconds(10), [&] { return visits >= count; });
    }
  };

  gated_content(std::vector<std::uint8_t> bytes, std::shared_ptr<gate> g) : bytes_(std::move(bytes)), gate_(g) {}
  void visit(const span_sink& sink) const override {
    std::unique_lock lock(gate_->mutex);
    const bool free = ++gate_->visits <= gate_->free_visits;
    gate_->opened.notify_all();
    gate_->opened.wait(lock, [&] { return free || gate_->open; });
    lock.unlock();
    sink(bytes_);
  }

 private:
  std::vector<std::uint8_t> bytes_;
  std::shared_ptr<gate> gate_;
};

// Memory content that can be abandoned, as a removed file's sealed bytes are.
class abandonable_content final : public entry_content {
 public:
  explicit abandonable_content(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
  void visit(const span_sink& sink) const override { sink(bytes_); }
  bool abandoned() const noexcept override { return abandoned_.load(); }
  void abandon() { abandoned_ = true; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::atomic<bool> abandoned_{false};
};

// Opens the gates when it goes out of scope: declared after the
// pending_folders, it lets a test that stops at a failed assertion end
// instead of joining a worker held at a gate forever.
struct gates_opened_at_exit {
  std::vector<std::shared_ptr<gated_content::gate>> gates;
  ~gates_opened_at_exit() {
    for (const auto& gate : gates) gate->set(true);
  }
};

entry file_entry(const std::string& path, std::vector<std::uint8_t> bytes) {
  entry e;
  e.path = path;
  e.mode = 0644;
  e.size = bytes.size();
  e.content = std::make_shared<memory_content>(std::move(bytes));
  return e;
}

// Hands over `size` redundant bytes as `path`, read through `gate` if there
// is one, and keeps them in `content` for the read-back checks.
void add_redundant(pending_folders& pending, std::map<pending_id, std::vector<std::uint8_t>>& content,
                   const std::string& path, std::size_t size, std::uint32_t seed,
                   std::shared_ptr<gated_content::gate> gate) {
  auto bytes = redundant(size, seed);
  auto e = file_entry(path, bytes);
  if (gate) e.content = std::make_shared<gated_content>(bytes, std::move(gate));
  content[pending.add(e)] = std::move(bytes);
}

std::string name(const std::string& prefix, int i, const std::string& suffix = "") {
  std::string text = prefix;
  text += std::to_string(i);
  text += suffix;
  return text;
}

std::vector<std::uint8_t> read_back(cached_reader& reader, const pending_location& where) {
  std::vector<std::uint8_t> out(where.snapshot->substream(where.stream).size);
  EXPECT_EQ(reader.read(*where.snapshot, where.stream, 0, out), out.size());
  return out;
}

// Every file of `folder` reads back as `content` holds it.
void expect_reads_back(cached_reader& reader, const finished_folder& folder,
                       const std::map<pending_id, std::vector<std::uint8_t>>& content) {
  for (std::size_t k = 0; k < folder.ids.size(); ++k) {
    EXPECT_TRUE(read_back(reader, {folder.snapshot, folder.first_stream + k}) == content.at(folder.ids[k]))
        << "file " << folder.ids[k];
  }
}

std::size_t pending_files_in(const fs::path& dir) {
  std::size_t count = 0;
  for (const auto& item : fs::directory_iterator(dir)) {
    if (item.path().filename().string().find(".pending.tmp-") != std::string::npos) ++count;
  }
  return count;
}

pending_options small_parts(pack_mode mode, unsigned threads) {
  pending_options options;
  options.plan.mode = mode;
  options.level = 1;  // 256 KiB dictionary
  options.threads = threads;
  options.max_part_bytes = 100'000;  // files cross part boundaries
  return options;
}

struct pending_test : ::testing::Test {
  temp_dir dir;
  std::string archive = (dir / "a.7z").string();
  cached_reader reader;
};

}  // namespace

TEST(crc32_combine, EqualsTheCrcOfTheWhole) {
  const auto a = noise(1000, 1);
  const auto b = noise(77777, 2);
  std::vector<std::uint8_t> both = a;
  both.insert(both.end(), b.begin(), b.end());
  EXPECT_EQ(crc32::combine(crc32::of(a), crc32::of(b), b.size()), crc32::of(both));
  EXPECT_EQ(crc32::combine(crc32::of(a), crc32::of({}), 0), crc32::of(a));
}

TEST_F(pending_test, SolidFilesAcrossPartsReadBackAndCarryTheirCrcs) {
  std::map<pending_id, std::vector<std::uint8_t>> content;
  std::mutex encoded_mutex;
  std::multiset<pending_id> encoded;
  pending_folders pending(archive, small_parts(pack_mode::solid, 2), [&](pending_id id) {
    std::lock_guard lock(encoded_mutex);
    encoded.insert(id);
  });
  for (int i = 0; i < 30; ++i) {
    auto bytes = redundant(7000 + static_cast<std::size_t>(i) * 4099, static_cast<std::uint32_t>(i));
    const auto id = pending.add(file_entry(name("d/f", i, ".txt"), bytes));
    content[id] = std::move(bytes);
  }
  pending.finish();
  EXPECT_EQ(encoded.size(), content.size());
  for (const auto& [id, bytes] : content) {
    EXPECT_EQ(encoded.count(id), 1u);
    const auto where = pending.locate(id);
    ASSERT_TRUE(where);
    EXPECT_TRUE(read_back(reader, *where) == bytes) << "file " << id;
  }
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);  // one extension, no solid block limit
  const auto& folder = folders[0];
  EXPECT_EQ(folder.ids.size(), content.size());
  EXPECT_EQ(folder.folder().coders().at(0).method_id, kMethodLzma2);
  std::uint64_t input = 0;
  for (std::size_t k = 0; k < folder.ids.size(); ++k) {
    const auto& bytes = content.at(folder.ids[k]);
    EXPECT_EQ(folder.sizes()[k], bytes.size());
    EXPECT_EQ(folder.crcs()[k], crc32::of(bytes));
    input += bytes.size();
  }
  EXPECT_GT(input, 8 * pending.part_bytes());  // many parts, most files cut by one
  EXPECT_EQ(folder.folder().unpack_size(), input);
  EXPECT_LT(folder.packed.size, input / 20);  // primed parts keep the redundancy (unprimed: a vocabulary per part)
  for (std::size_t k = 0; k < folder.ids.size(); ++k) {
    EXPECT_TRUE(read_back(reader, {folder.snapshot, folder.first_stream + k}) == content.at(folder.ids[k]));
  }
  EXPECT_FALSE(pending.locate(folder.ids[0]));  // taken: the commit's snapshot reads it now
  const auto progress = pending.progress();
  EXPECT_EQ(progress.handed_bytes, input);
  EXPECT_EQ(progress.written_bytes, input);
  EXPECT_EQ(progress.packed_bytes, folder.packed.size + 0);
  EXPECT_EQ(progress.in_flight_bytes, 0u);
}

TEST_F(pending_test, AWorkerWritesOnInTheStreamOfThePartBeforeInsteadOfPriming) {
  // One worker: every part after a folder's first continues the stream it
  // left, unless the worker went to another folder in between (then it
  // primes; the folders read back either way).
  for (const bool two_extensions : {false, true}) {
    pending_folders pending(archive, small_parts(pack_mode::solid, 1));
    std::map<pending_id, std::vector<std::uint8_t>> content;
    for (int i = 0; i < 40; ++i) {
      const std::string extension = two_extensions && i % 2 == 1 ? ".log" : ".txt";
      auto bytes = redundant(9000 + static_cast<std::size_t>(i) * 3001, static_cast<std::uint32_t>(i));
      content[pending.add(file_entry(name("d/f", i, extension), bytes))] = bytes;
    }
    pending.finish();
    const auto progress = pending.progress();
    const auto folders = pending.take();
    ASSERT_EQ(folders.size(), two_extensions ? 2u : 1u);
    std::uint64_t input = 0;
    std::uint64_t packed = 0;
    for (const auto& folder : folders) {
      for (std::size_t k = 0; k < folder.ids.size(); ++k) {
        EXPECT_EQ(folder.crcs()[k], crc32::of(content.at(folder.ids[k])));
        EXPECT_TRUE(read_back(reader, {folder.snapshot, folder.first_stream + k}) == content.at(folder.ids[k]));
        input += folder.sizes()[k];
      }
      packed += folder.packed.size;
    }
    const std::uint64_t later_parts = progress.primed_parts + progress.continued_parts;
    EXPECT_GE(later_parts, input / pending.part_bytes() - 2);
    if (!two_extensions) {
      EXPECT_EQ(progress.primed_parts, 0u);
      EXPECT_EQ(progress.continued_parts, later_parts);
    }
    EXPECT_LT(packed, input / 20);  // the redundancy across parts is kept
  }
}

TEST_F(pending_test, PartsTooShortToPayForAPrimerWaitForTheStreamTheyContinue) {
  // Two workers, one folder, parts of 100 KB against a dictionary of
  // 256 KiB: priming one costs the match finder a pass over 2.6 times its
  // input, so two workers would take longer than one stream. Only a part
  // with at most 167 KB before it (its input / primer_cost) may be primed,
  // while the worker of the part before has as much left: few of the parts
  // cut from 12.5 KB (for an idle worker, at no primer's cost) or 50 KB on.
  pending_folders pending(archive, small_parts(pack_mode::solid, 2));
  std::map<pending_id, std::vector<std::uint8_t>> content;
  for (int i = 0; i < 60; ++i) {
    auto bytes = redundant(40'000, static_cast<std::uint32_t>(i));
    content[pending.add(file_entry(name("d/f", i, ".txt"), bytes))] = bytes;
  }
  pending.finish();
  const auto progress = pending.progress();
  EXPECT_LE(progress.primed_parts, 3u);
  EXPECT_GE(progress.continued_parts, 60u * 40'000 / 100'000 - 4);
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  expect_reads_back(reader, folders[0], content);
}

TEST_F(pending_test, APartIsLeftToTheIdleWorkerWhoseStreamItContinues) {
  // Two workers, one folder, a part at a time, each written before the next
  // is cut (a slow writer): whichever worker a part's job wakes, the worker
  // that compressed the part before writes on, even where priming would pay.
  auto options = small_parts(pack_mode::solid, 2);
  options.primer_cost = 0;
  pending_folders pending(archive, options);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  for (int i = 0; i < 12; ++i) {
    auto bytes = redundant(100'000, static_cast<std::uint32_t>(i));  // a part each
    content[pending.add(file_entry(name("d/f", i, ".txt"), bytes))] = bytes;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pending.progress().written_bytes < pending.progress().handed_bytes) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "part " << i << " was not written";
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  pending.finish();
  const auto progress = pending.progress();
  EXPECT_EQ(progress.primed_parts, 0u);
  EXPECT_EQ(progress.continued_parts, 12u);  // 11 parts, and the end marker finish() cuts
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  expect_reads_back(reader, folders[0], content);
}

TEST_F(pending_test, EachBusyWorkerRunsThePartContinuingItsStreamOnceItIsFree) {
  // Three workers, two folders: the first parts of both are held back, so
  // two workers are busy when a short second part of each is cut, too short
  // to pay for a primer. The idle third worker must hand each to the worker
  // whose stream it continues, not both to one: once the second folder's
  // first part is let go, its second part is written while the first
  // folder's worker still waits.
  pending_folders pending(archive, small_parts(pack_mode::solid, 3));
  auto gate_a = std::make_shared<gated_content::gate>();
  auto gate_b = std::make_shared<gated_content::gate>();
  gate_a->set(false);
  gate_b->set(false);
  const auto gated = [](std::string path, std::vector<std::uint8_t> bytes, std::shared_ptr<gated_content::gate> g) {
    auto e = file_entry(path, bytes);
    e.content = std::make_shared<gated_content>(std::move(bytes), std::move(g));
    return e;
  };
  std::map<pending_id, std::vector<std::uint8_t>> content;
  const auto a0 = redundant(100'000, 1);  // a part each
  const auto b0 = redundant(100'000, 2);
  const auto a1 = redundant(20'000, 3);
  const auto b1 = redundant(20'000, 4);
  content[pending.add(gated("a0.a", a0, gate_a))] = a0;
  content[pending.add(gated("b0.b", b0, gate_b))] = b0;
  content[pending.add(file_entry("a1.a", a1))] = a1;
  content[pending.add(file_entry("b1.b", b1))] = b1;
  pending.flush();  // cuts a1 and b1: 20 KB x 2 workers < 0.6 x 100 KB of primer
  gate_b->set(true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pending.progress().written_bytes < b0.size() + b1.size() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(pending.progress().written_bytes, b0.size() + b1.size()) << "b1 waited for the other worker";
  gate_a->set(true);
  pending.finish();
  EXPECT_EQ(pending.progress().primed_parts, 0u);
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

namespace {

// Waits (up to `timeout`) until `bytes` are written; returns whether they were.
bool written_within(const pending_folders& pending, std::uint64_t bytes, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pending.progress().written_bytes < bytes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pending.progress().written_bytes >= bytes;
}

}  // namespace

TEST_F(pending_test, WhileOneWorkerIsAllowedTheOtherWaitsForItsTurnExceptForFinish) {
  // Two workers, one allowed: while the first file's worker is held in its
  // content, the second file waits, until two are allowed. Then the same
  // again, until finish() is called, which compresses with every worker.
  // Solid folders of two extensions: two lanes, each written on its own.
  std::atomic<unsigned> allowed{1};
  auto options = small_parts(pack_mode::solid, 2);
  options.workers_allowed = [&] { return allowed.load(); };
  pending_folders pending(archive, options);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  const auto add = [&](const std::string& path, std::uint32_t seed, std::shared_ptr<gated_content::gate> gate) {
    auto bytes = redundant(50'000, seed);
    auto e = file_entry(path, bytes);
    if (gate) e.content = std::make_shared<gated_content>(bytes, gate);
    content[pending.add(e)] = std::move(bytes);
  };
  auto held = std::make_shared<gated_content::gate>();
  auto held_again = std::make_shared<gated_content::gate>();
  held->set(false);
  held_again->set(false);
  const gates_opened_at_exit opener{{held, held_again}};
  add("held.a", 1, held);
  pending.flush();
  ASSERT_TRUE(held->wait_visited());
  add("free.b", 2, nullptr);
  pending.flush();
  EXPECT_FALSE(written_within(pending, 1, std::chrono::milliseconds(400))) << "two workers compressed";
  allowed = 2;
  EXPECT_TRUE(written_within(pending, 50'000, std::chrono::seconds(10))) << "the second worker was not let go";
  held->set(true);
  ASSERT_TRUE(written_within(pending, 100'000, std::chrono::seconds(10)));

  allowed = 1;
  add("held2.a", 3, held_again);
  pending.flush();
  ASSERT_TRUE(held_again->wait_visited());
  add("free2.b", 4, nullptr);
  pending.flush();
  EXPECT_FALSE(written_within(pending, 100'001, std::chrono::milliseconds(400))) << "two workers compressed";
  std::jthread finishing([&] { pending.finish(); });
  EXPECT_TRUE(written_within(pending, 150'000, std::chrono::seconds(10))) << "finish() waited with one worker";
  held_again->set(true);
  finishing.join();
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, APartIsLeftToItsStreamsWorkerWhenThatOneIsAboutToBeFree) {
  // Two workers, primer_cost 0.6. The first part of folder d (90 KB, then
  // 10 KB held back) is cut whole while one worker is held on a part of
  // folder x and only one may compress, so no part of d is cut early. Once
  // both may, d's worker reads 90 KB and waits; then x's worker is let go,
  // and d's second part (100 KB, primer 100 KB) is cut. The 10 KB left
  // before it are less than the 60 KB its primer costs: the idle worker
  // leaves it to d's. (d's worker reads the part once for the next part's
  // primer before it compresses: the held file lets that visit pass.)
  std::atomic<unsigned> allowed{1};
  auto options = small_parts(pack_mode::solid, 2);
  options.workers_allowed = [&] { return allowed.load(); };
  pending_folders pending(archive, options);
  auto x_gate = std::make_shared<gated_content::gate>();
  auto d_gate = std::make_shared<gated_content::gate>();
  x_gate->set(false);
  d_gate->set(false);
  d_gate->free_visits = 1;
  const gates_opened_at_exit opener{{x_gate, d_gate}};
  std::map<pending_id, std::vector<std::uint8_t>> content;
  add_redundant(pending, content, "x/h.x", 50'000, 1, x_gate);  // a folder's first part: cut at once
  ASSERT_TRUE(x_gate->wait_visited());
  add_redundant(pending, content, "d/a.txt", 90'000, 2, nullptr);
  add_redundant(pending, content, "d/b.txt", 10'000, 3, d_gate);  // fills d's first part: cut, waiting for its turn
  allowed = 2;
  ASSERT_TRUE(d_gate->wait_visited(2));
  x_gate->set(true);
  ASSERT_TRUE(written_within(pending, 50'000, std::chrono::seconds(10))) << "x's part was not written";
  ASSERT_EQ(pending.progress().written_bytes, 50'000u);
  add_redundant(pending, content, "d/c.txt", 100'000, 4, nullptr);  // d's second part, cut once full
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the idle worker's turn
  d_gate->set(true);
  pending.finish();
  EXPECT_EQ(pending.progress().primed_parts, 0u);
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

namespace {

// Folder d's chain for the split tests, in parts of one dictionary (256 KiB
// at level 1): while only one worker may compress (the caller's
// workers_allowed), x's part keeps it busy, so d's part 0 is cut full, not
// early; the worker is held halfway through it, at d/0b (`first`, which
// lets one visit pass: part 0 is read once for part 1's primer before it is
// compressed), and parts 1-5 wait in its stream's chain, a file each (part
// 2's read through `middle`, part 5's through `last`).
constexpr std::size_t kChainPart = 256 * 1024;

pending_options chain_options(std::atomic<unsigned>& allowed) {
  auto options = small_parts(pack_mode::solid, 2);
  options.max_part_bytes = kChainPart;
  options.workers_allowed = [&allowed] { return allowed.load(); };
  options.max_input_bytes = 8 * kChainPart;  // the chain is handed over while its worker is held
  return options;
}

void hand_over_held_chain(pending_folders& pending, std::map<pending_id, std::vector<std::uint8_t>>& content,
                          const std::shared_ptr<gated_content::gate>& x,
                          const std::shared_ptr<gated_content::gate>& first,
                          const std::shared_ptr<gated_content::gate>& middle,
                          const std::shared_ptr<gated_content::gate>& last) {
  add_redundant(pending, content, "x/h.x", 50'000, 1, x);
  ASSERT_TRUE(x->wait_visited());
  add_redundant(pending, content, "d/0a.d", kChainPart / 2, 2, nullptr);
  add_redundant(pending, content, "d/0b.d", kChainPart / 2, 3, first);
  x->set(true);
  ASSERT_TRUE(first->wait_visited(2)) << "d's part 0 was not started";
  for (int k = 1; k <= 5; ++k) {
    add_redundant(pending, content, name("d/", k, ".d"), kChainPart, 10 + static_cast<std::uint32_t>(k),
                  k == 2 ? middle : (k == 5 ? last : nullptr));
  }
}

std::vector<std::shared_ptr<gated_content::gate>> closed_gates(std::size_t count, unsigned free_first) {
  std::vector<std::shared_ptr<gated_content::gate>> gates;
  for (std::size_t i = 0; i < count; ++i) {
    gates.push_back(std::make_shared<gated_content::gate>());
    gates.back()->set(false);
  }
  gates.at(free_first)->free_visits = 1;
  return gates;
}

// The chain above with its gates: x's, d's part 0's, (`middle`) d's part
// 2's and d's part 5's, in that order. Members end in reverse: the gates
// open before the workers are joined.
struct held_chain {
  std::atomic<unsigned> allowed{1};
  pending_folders pending;
  std::vector<std::shared_ptr<gated_content::gate>> gates;
  gates_opened_at_exit opener;
  std::map<pending_id, std::vector<std::uint8_t>> content;

  held_chain(const std::string& archive, bool middle)
      : pending(archive, chain_options(allowed)), gates(closed_gates(middle ? 4 : 3, 1)), opener{gates} {}
  // Through ASSERT_NO_FATAL_FAILURE.
  void hand_over() {
    hand_over_held_chain(pending, content, gates[0], gates[1], gates.size() == 4 ? gates[2] : nullptr, gates.back());
  }
};

}  // namespace

TEST_F(pending_test, AnIdleWorkerTakesTheEndOfABusyWorkersChainPrimedFromThePartBeforeIt) {
  // Two workers, primer_cost 0.6, the chain above (P = 256 KiB a part).
  // Once both may compress, the idle worker splits it where both end
  // soonest: from part 4 on (the busy one: 0.5 P left of part 0 and parts
  // 1-3; the idle one: a 0.6 P primer pass and parts 4-5), primed from part
  // 3, not started. Part 1 would not do (its pass exceeds what is left of
  // part 0), parts 2 and 3 end later. The idle worker then writes on through
  // part 5, where it is held, while the busy one is still at part 0.
  held_chain chain(archive, false);  // gates: x, d's part 0, d's part 5
  ASSERT_NO_FATAL_FAILURE(chain.hand_over());
  auto& [allowed, pending, gates, opener, content] = chain;
  allowed = 2;
  EXPECT_TRUE(gates[2]->wait_visited()) << "the idle worker did not take the chain's end and write on through it";
  // No second split (of parts 1-3, once part 5 is done) from here on: one
  // worker at a time, and everything written before finish() lets both go.
  allowed = 1;
  gates[1]->set(true);
  gates[2]->set(true);
  EXPECT_TRUE(written_within(pending, 50'000 + 6 * kChainPart, std::chrono::seconds(30)));
  pending.finish();
  EXPECT_EQ(pending.progress().primed_parts, 1u);
  // One primer per chain: part 1's (P, made from part 0 when it started) is
  // dropped when the idle worker makes part 4's. Besides that, x's (50 KB)
  // and the packed bytes of a few parts.
  EXPECT_LE(pending.peak_buffer_bytes(), kChainPart + 50'000 + 128 * 1024);
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, AnIdleWorkerTakesAnotherFoldersWaitingInputBeforeSplittingABusyWorkersChain) {
  // As above, but folder y's first 40 KB wait too, less than a part (an
  // eighth is enough), not cut while one worker may compress. Once both
  // may, the idle worker cuts and compresses them, for free, rather than
  // pay a primer's pass to split d's chain (from part 4 on, then held at
  // part 5): y is written while d's worker is still held at part 0.
  held_chain chain(archive, false);  // gates: x, d's part 0, d's part 5
  ASSERT_NO_FATAL_FAILURE(chain.hand_over());
  auto& [allowed, pending, gates, opener, content] = chain;
  add_redundant(pending, content, "y/0.y", 40'000, 30, nullptr);
  allowed = 2;
  EXPECT_TRUE(written_within(pending, 50'000 + 40'000, std::chrono::seconds(10)))
      << "y's input waited while the idle worker split d's chain";
  gates[1]->set(true);
  gates[2]->set(true);
  pending.finish();
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, WhileSomeoneWaitsForAFolderAnIdleWorkerHelpsWithItsChainNotWithOtherInput) {
  // As above, but someone waits for d (an fsync of one of its files:
  // finish_folders_of), so every worker may compress: the idle worker splits
  // d's chain (and is held at part 5) rather than compress y's input.
  held_chain chain(archive, false);  // gates: x, d's part 0, d's part 5
  ASSERT_NO_FATAL_FAILURE(chain.hand_over());
  auto& [allowed, pending, gates, opener, content] = chain;
  const pending_id d_last = pending.next_id() - 1;
  add_redundant(pending, content, "y/0.y", 40'000, 30, nullptr);
  auto waiting = std::async(std::launch::async, [&] {
    const std::vector<pending_id> ids{d_last};
    pending.finish_folders_of(ids);
  });
  EXPECT_TRUE(gates[2]->wait_visited()) << "the idle worker did not help with d's chain";
  EXPECT_EQ(pending.progress().written_bytes, 50'000u) << "y's input was compressed meanwhile";
  gates[1]->set(true);
  gates[2]->set(true);
  waiting.get();
  pending.finish();
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, APartLeftToABusyWorkersStreamAfterASplitStartsAfreshWhenThatStreamIsGone) {
  // As above, the idle worker splits the chain from part 4 on and is held in
  // part 5. Parts 1-3 are left to the busy worker's stream, so they keep no
  // primer. Here that stream goes right before part 3, whose bytes are part
  // 4's primer: the busy worker goes through parts 0-2, waits for its turn,
  // and its encoder is released. Part 3 must then start a dictionary of its
  // own (no primer left to wait for), which holds all part 4's matches
  // refer to: the folder must decode whole.
  held_chain chain(archive, true);  // gates: x, d's part 0, d's part 2, d's part 5
  ASSERT_NO_FATAL_FAILURE(chain.hand_over());
  auto& [allowed, pending, gates, opener, content] = chain;
  allowed = 2;
  ASSERT_TRUE(gates[3]->wait_visited()) << "the idle worker did not take the chain's end";
  gates[1]->set(true);
  ASSERT_TRUE(gates[2]->wait_visited()) << "the busy worker did not write on to part 2";
  allowed = 1;
  gates[2]->set(true);
  ASSERT_TRUE(written_within(pending, 50'000 + 3 * kChainPart, std::chrono::seconds(30)))
      << "parts 0-2 were not written";
  EXPECT_EQ(pending.release_idle_encoders(), 1u) << "the worker of parts 0-2, waiting for its turn";
  allowed = 2;
  gates[3]->set(true);
  pending.finish();
  EXPECT_EQ(pending.progress().primed_parts, 1u) << "part 4 only: part 3 had no primer left";
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, AnIdleWorkerGetsAFoldersFirstPartBeforeAPartThatNeedsAPrimer) {
  // Two workers: one is held on folder a's first part (100 KB). Folder b's
  // first 20 KB (an eighth of a part is enough, and it needs no primer) go
  // to the idle worker at once, before a's next 60 KB, which would need a
  // primer, are cut half full.
  pending_folders pending(archive, small_parts(pack_mode::solid, 2));
  auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);
  const gates_opened_at_exit opener{{gate}};
  std::map<pending_id, std::vector<std::uint8_t>> content;
  const auto add = [&](const std::string& path, std::size_t size, std::uint32_t seed, bool held) {
    auto bytes = redundant(size, seed);
    auto e = file_entry(path, bytes);
    if (held) e.content = std::make_shared<gated_content>(bytes, gate);
    content[pending.add(e)] = std::move(bytes);
  };
  add("a/0.a", 100'000, 1, true);
  ASSERT_TRUE(gate->wait_visited());
  add("b/0.b", 20'000, 2, false);
  add("a/1.a", 60'000, 3, false);
  EXPECT_TRUE(written_within(pending, 20'000, std::chrono::seconds(10))) << "b's part waited";
  gate->set(true);
  pending.finish();
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, APartsPrimerBecomesTheNextOnesSoAChainHoldsOneDictionary) {
  // One folder, two workers taking turns: parts shorter than the dictionary,
  // primed whenever the other worker is busy. The encoder copies its primer
  // as it starts; the same buffer then becomes the next part's, so the chain
  // holds one dictionary of primer at a time (a copy made beside it would
  // hold two). The first part's files are held back for a while: its worker
  // is then busy when the second part comes, which must be primed.
  constexpr std::uint64_t kDictionary = 256 * 1024;  // level 1
  auto options = small_parts(pack_mode::solid, 2);
  options.primer_cost = 0;
  pending_folders pending(archive, options);
  auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);
  std::jthread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    gate->set(true);
  });
  std::map<pending_id, std::vector<std::uint8_t>> content;
  for (int i = 0; i < 60; ++i) {
    auto bytes = redundant(40'000, static_cast<std::uint32_t>(i));
    auto e = file_entry(name("d/f", i, ".txt"), bytes);
    // Held: the first part (file 0 alone, cut for an idle worker as a
    // folder's first) and the second (files 1 and 2, cut half full).
    if (i < 2) e.content = std::make_shared<gated_content>(bytes, gate);
    content[pending.add(e)] = bytes;
  }
  pending.finish();
  const auto progress = pending.progress();
  EXPECT_GE(progress.primed_parts, 1u);
  // A dictionary of primer, and the packed bytes of a few parts (about 5 KB
  // each: the input is redundant).
  EXPECT_LE(pending.peak_buffer_bytes(), kDictionary + 64 * 1024);
  for (const auto& folder : pending.take()) expect_reads_back(reader, folder, content);
}

TEST_F(pending_test, SolidGroupsByExtensionAndEndsTheLeastRecentlyUsedFolder) {
  auto options = small_parts(pack_mode::solid, 2);
  options.max_open_folders = 2;
  pending_folders pending(archive, options);
  std::map<pending_id, std::string> extension;
  const std::vector<std::string> kinds = {"txt", "bin", "txt", "bin", "txt", "c", "txt", "c"};
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const auto id = pending.add(
        file_entry(name("f", static_cast<int>(i), "." + kinds[i]), redundant(3000, static_cast<std::uint32_t>(i))));
    extension[id] = kinds[i];
  }
  pending.finish();
  const auto folders = pending.take();
  // txt stays open throughout; bin is ended when c arrives (two open at most).
  ASSERT_EQ(folders.size(), 3u);
  std::multiset<std::string> seen;
  for (const auto& folder : folders) {
    const std::string kind = extension.at(folder.ids.at(0));
    seen.insert(kind);
    for (auto id : folder.ids) EXPECT_EQ(extension.at(id), kind);
  }
  EXPECT_EQ(seen, (std::multiset<std::string>{"txt", "bin", "c"}));
}

TEST_F(pending_test, APartsWholeFilesAreGroupedByDirectorySoParallelWritersDirectoriesStayTogether) {
  // One worker, held in the folder's first part: the files handed over
  // meanwhile, from two directories in turn (two writers), fill two parts
  // of ten whole files each, which are cut grouped by directory, in the
  // order the directories came (not sorted).
  auto options = small_parts(pack_mode::solid, 1);
  pending_folders pending(archive, options);
  ASSERT_EQ(pending.part_bytes(), 100'000u);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);
  gates_opened_at_exit opened{{gate}};
  add_redundant(pending, content, "c/first.txt", 60'000, 99, gate);  // cut at once for the idle worker
  ASSERT_TRUE(gate->wait_visited());
  std::map<std::string, pending_id> id_of;
  for (int i = 0; i < 10; ++i) {
    for (const std::string directory : {"b", "a"}) {
      const std::string path = name(directory + "/f", i, ".txt");
      auto bytes = redundant(10'000, static_cast<std::uint32_t>(i * 2 + (directory == "a")));
      id_of[path] = pending.add(file_entry(path, bytes));
      content[id_of[path]] = std::move(bytes);
    }
  }
  gate->set(true);
  pending.finish();
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  std::vector<pending_id> expected = {content.begin()->first};  // c/first.txt
  for (const int from : {0, 5}) {
    for (const std::string directory : {"b", "a"}) {
      for (int i = from; i < from + 5; ++i) expected.push_back(id_of.at(name(directory + "/f", i, ".txt")));
    }
  }
  EXPECT_EQ(std::vector<pending_id>(folders[0].ids.begin(), folders[0].ids.end()), expected);
  expect_reads_back(reader, folders[0], content);
  for (std::size_t k = 0; k < folders[0].ids.size(); ++k) {
    EXPECT_EQ(folders[0].crcs()[k], crc32::of(content.at(folders[0].ids[k])));
  }
}

// An fsync of one file finishes that file's folder alone: the folder of
// another extension, whose part a worker is still in, stays open.
TEST_F(pending_test, FinishingTheFoldersOfSomeFilesLeavesTheOthersOpen) {
  pending_folders pending(archive, small_parts(pack_mode::solid, 2));
  const auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);
  const gates_opened_at_exit opener{{gate}};
  std::map<pending_id, std::vector<std::uint8_t>> content;
  add_redundant(pending, content, "held.txt", 50'000, 1, gate);
  ASSERT_TRUE(gate->wait_visited()) << "held.txt's part was not started";
  add_redundant(pending, content, "a.dat", 3000, 2, nullptr);
  add_redundant(pending, content, "b.dat", 3000, 3, nullptr);
  std::vector<pending_id> ids;
  for (const auto& [id, bytes] : content) ids.push_back(id);  // held.txt, a.dat, b.dat

  auto finishing = std::async(std::launch::async, [&] { pending.finish_folders_of(std::vector{ids[1]}); });
  ASSERT_EQ(finishing.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "it waited for held.txt's part";
  finishing.get();
  const auto taken = pending.take();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(std::vector<pending_id>(taken[0].ids.begin(), taken[0].ids.end()),
            (std::vector<pending_id>{ids[1], ids[2]}));
  expect_reads_back(reader, taken[0], content);
  // Taken already, or never handed over: nothing to wait for.
  pending.finish_folders_of(std::vector<pending_id>{ids[1], 9999});

  gate->set(true);
  pending.finish();
  const auto rest = pending.take();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(std::vector<pending_id>(rest[0].ids.begin(), rest[0].ids.end()), (std::vector<pending_id>{ids[0]}));
  expect_reads_back(reader, rest[0], content);
}

TEST_F(pending_test, SolidBlockLimitsCutFolders) {
  auto options = small_parts(pack_mode::solid, 1);
  options.plan.solid_block_files = 4;
  pending_folders pending(archive, options);
  for (int i = 0; i < 10; ++i) pending.add(file_entry(name("f", i), redundant(1000, 7)));
  pending.finish();
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 3u);
  EXPECT_EQ(folders[0].ids.size(), 4u);
  EXPECT_EQ(folders[2].ids.size(), 2u);
}

TEST_F(pending_test, BatchedAndHybridGiveLargeFilesFoldersOfTheirOwn) {
  for (const auto mode : {pack_mode::batched, pack_mode::hybrid}) {
    auto options = small_parts(mode, 2);
    options.plan.hybrid_threshold = 50'000;
    // The small files' solid folder may be cut early for an idle worker, and
    // then sizes its dictionary by the solid block: the block is their size.
    options.plan.solid_block_bytes = 16'000;
    pending_folders pending(archive, options);
    std::map<pending_id, std::vector<std::uint8_t>> content;
    for (int i = 0; i < 6; ++i) {
      // Two large files (one of several parts), four small ones; one small file does not shrink.
      auto bytes = i < 2 ? redundant(250'000 + static_cast<std::size_t>(i), 10 + static_cast<std::uint32_t>(i))
                         : (i == 5 ? noise(4000, 3) : redundant(4000, static_cast<std::uint32_t>(i)));
      content[pending.add(file_entry(name("f", i), bytes))] = bytes;
    }
    pending.finish();
    const auto folders = pending.take();
    ASSERT_EQ(folders.size(), mode == pack_mode::batched ? 6u : 3u) << pack_mode_name(mode);
    for (const auto& folder : folders) {
      std::uint64_t input = 0;
      for (std::size_t k = 0; k < folder.ids.size(); ++k) {
        EXPECT_EQ(folder.crcs()[k], crc32::of(content.at(folder.ids[k])));
        EXPECT_TRUE(read_back(reader, {folder.snapshot, folder.first_stream + k}) == content.at(folder.ids[k]));
        input += folder.sizes()[k];
      }
      const bool stored = folder.folder().coders().at(0).method_id == kMethodCopy;
      EXPECT_EQ(stored,
                folder.ids.size() == 1 && content.at(folder.ids[0]).size() == 4000 && folder.packed.size == 4000)
          << "only the noise file is stored";
      if (!stored) {
        EXPECT_LT(folder.packed.size, input);
        // The dictionary the encoder used: level 1's, cut to the folder's input.
        EXPECT_EQ(folder.folder().coders().at(0).properties,
                  coder_bytes{lzma2_property_byte(lzma2_options_for(1, input))})
            << pack_mode_name(mode) << " folder of " << input << " bytes";
      }
    }
  }
}

// A file removed while it waits for the compressor: the parts of a folder
// holding only it are skipped (a commit waiting for them waited for the
// whole compression of a removed 3 GiB file), in batched and solid folders,
// and a solid folder it was alone in takes no other file. A folder it shares
// is compressed whole: the other files need the stream.
TEST_F(pending_test, PartsOfAFolderWhoseOnlyFileIsAbandonedAreSkipped) {
  for (const auto mode : {pack_mode::batched, pack_mode::solid}) {
    auto options = small_parts(mode, 2);
    options.max_input_bytes = 10'000'000;
    std::atomic<int> encoded{0};
    pending_folders pending(archive, options, [&](pending_id) { ++encoded; });
    const auto gate = std::make_shared<gated_content::gate>();
    gates_opened_at_exit opened{{gate}};
    gate->set(false);
    // Both workers held at a gate: the abandoned file's parts wait.
    std::map<pending_id, std::vector<std::uint8_t>> content;
    add_redundant(pending, content, "held1.bin", 50'000, 1, gate);
    add_redundant(pending, content, "held2.dat", 50'000, 2, gate);
    ASSERT_TRUE(gate->wait_visited(2));
    auto big = std::make_shared<abandonable_content>(redundant(1'000'000, 3));
    entry removed = file_entry("removed.log", {});
    removed.size = 1'000'000;
    removed.content = big;
    const pending_id removed_id = pending.add(removed);
    big->abandon();
    add_redundant(pending, content, "after.log", 30'000, 4, nullptr);  // same extension: a folder of its own
    gate->set(true);
    pending.finish();
    const auto progress = pending.progress();
    EXPECT_GE(progress.abandoned_parts, 10u) << pack_mode_name(mode) << ": 1 MB in 100 KB parts";
    EXPECT_LT(progress.packed_bytes, 200'000u) << "the removed file was not compressed";
    EXPECT_EQ(encoded.load(), 4) << "every file is reported, its memory to be released";
    const auto folders = pending.take();
    for (const auto& folder : folders) {
      if (folder.ids.size() == 1 && folder.ids[0] == removed_id) continue;  // nobody reads it
      EXPECT_TRUE(std::ranges::find(folder.ids, removed_id) == folder.ids.end()) << "no file joined it";
      expect_reads_back(reader, folder, content);
    }
  }
  // Sharing a solid folder with another file: compressed whole, readable.
  pending_folders pending(archive, small_parts(pack_mode::solid, 2));
  std::map<pending_id, std::vector<std::uint8_t>> content;
  add_redundant(pending, content, "first.log", 30'000, 5, nullptr);
  auto bytes = redundant(500'000, 6);
  auto shared = std::make_shared<abandonable_content>(bytes);
  entry e = file_entry("second.log", {});
  e.size = bytes.size();
  e.content = shared;
  shared->abandon();
  content[pending.add(e)] = bytes;
  pending.finish();
  EXPECT_EQ(pending.progress().abandoned_parts, 0u);
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  expect_reads_back(reader, folders[0], content);
}

TEST_F(pending_test, HandingOverWaitsOnlyWhileTheEncodersAreBehindAndInputStaysBounded) {
  auto options = small_parts(pack_mode::solid, 2);
  options.max_input_bytes = 300'000;
  pending_folders pending(archive, options);
  auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);  // the encoders cannot read: they are behind
  std::atomic<int> added{0};
  std::jthread writer([&] {
    for (int i = 0; i < 40; ++i) {
      entry e;
      e.path = name("f", i);
      e.size = 40'000;
      e.content = std::make_shared<gated_content>(redundant(40'000, static_cast<std::uint32_t>(i)), gate);
      pending.add(e);
      ++added;
    }
  });
  // The bound lets 7 files through, then the writer waits.
  ASSERT_TRUE(eventually([&] { return added.load() >= 7; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(added.load(), 7);
  EXPECT_LE(pending.progress().in_flight_bytes, options.max_input_bytes);
  gate->set(true);
  ASSERT_TRUE(eventually([&] { return added.load() == 40; }));
  writer.join();
  pending.finish();
  EXPECT_LE(pending.peak_input_bytes(), options.max_input_bytes);
  EXPECT_GT(pending.peak_input_bytes(), options.max_input_bytes / 2);
  // Primers: one dictionary per open folder and per part not started; packed
  // bytes of parts waiting: within a few parts, whatever the input size.
  EXPECT_LE(pending.peak_buffer_bytes(), 4 * (262'144 + 2 * pending.part_bytes()));
  std::uint64_t files = 0;
  for (const auto& folder : pending.take()) files += folder.ids.size();
  EXPECT_EQ(files, 40u);
}

TEST_F(pending_test, ContentShorterThanDeclaredFailsAndIsSticky) {
  pending_folders pending(archive, small_parts(pack_mode::batched, 1));
  entry e = file_entry("short", redundant(1000, 1));
  e.size = 2000;
  pending.add(e);
  try {
    pending.finish();
    FAIL() << "finish succeeded";
  } catch (const archive_error& error) {
    EXPECT_EQ(error.kind(), error_kind::invalid_input);
    EXPECT_EQ(error.path(), "short");
  }
  EXPECT_THROW(pending.add(file_entry("next", redundant(10, 1))), archive_error);
}

TEST_F(pending_test, DestroyingCancelsJoinsAndRemovesPendingFiles) {
  std::atomic<int> encoded{0};
  auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);
  {
    // Opens the gate while the destructor waits for the parts being compressed.
    std::jthread opener([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      gate->set(true);
    });
    pending_folders pending(archive, small_parts(pack_mode::batched, 2), [&](pending_id) { ++encoded; });
    for (int i = 0; i < 20; ++i) {
      entry e;
      e.path = name("f", i);
      e.size = 1000;
      e.content = std::make_shared<gated_content>(redundant(1000, 1), gate);
      pending.add(e);
    }
    EXPECT_EQ(pending_files_in(dir.path()), 1u);
  }
  EXPECT_EQ(pending_files_in(dir.path()), 0u);
  EXPECT_EQ(encoded.load(), 0);  // nothing is reported after cancelling
}

TEST_F(pending_test, TakenFoldersKeepTheirPendingFileUntilReleased) {
  std::vector<finished_folder> folders;
  {
    pending_folders pending(archive, small_parts(pack_mode::solid, 1));
    pending.add(file_entry("a.txt", redundant(5000, 1)));
    pending.finish();
    folders = pending.take();
    EXPECT_EQ(pending_files_in(dir.path()), 1u);
  }
  EXPECT_EQ(pending_files_in(dir.path()), 1u);
  ASSERT_EQ(folders.size(), 1u);
  EXPECT_TRUE(read_back(reader, {folders[0].snapshot, folders[0].first_stream}) == redundant(5000, 1));
  folders.clear();
  EXPECT_EQ(pending_files_in(dir.path()), 0u);
}

TEST_F(pending_test, IdleEncodersGiveTheirMemoryBackAndTheNextPartPrimes) {
  // One worker, one folder: every later part would continue the worker's
  // stream. Its encoder is released between two parts (the folder still
  // open), so the next part must start a new stream, primed, and the folder
  // must still read back whole.
  pending_folders pending(archive, small_parts(pack_mode::solid, 1));
  std::map<pending_id, std::vector<std::uint8_t>> content;
  const auto add = [&](int i) {
    auto bytes = redundant(30'000, static_cast<std::uint32_t>(i));
    content[pending.add(file_entry(name("d/f", i, ".txt"), bytes))] = bytes;
  };
  for (int i = 0; i < 10; ++i) add(i);  // 300 KB: parts of 100 KB cut and compressed
  pending.flush();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pending.progress().written_bytes < pending.progress().handed_bytes) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the parts were not written";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto before = pending.progress();
  EXPECT_EQ(before.primed_parts, 0u);
  EXPECT_EQ(pending.release_idle_encoders(), 1u);
  EXPECT_EQ(pending.release_idle_encoders(), 0u) << "released already: nothing to give back";
  for (int i = 10; i < 20; ++i) add(i);
  pending.finish();
  const auto after = pending.progress();
  EXPECT_EQ(after.primed_parts, 1u) << "the first part after the release";
  EXPECT_GT(after.continued_parts, before.continued_parts) << "then the new stream goes on";
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  ASSERT_EQ(folders[0].ids.size(), content.size());
  expect_reads_back(reader, folders[0], content);
}

TEST_F(pending_test, IncompressibleFilesAreGivenUpEarlyAndTheNextPartStartsAfresh) {
  // One worker, parts of 1 MiB. "mixed" starts with a part of noise, judged
  // incompressible and written in uncompressed chunks, then text: the
  // worker must start its next part afresh, primed with the noise (a copy
  // of it further on is then found), never write on in a stream that lacks
  // the noise (the read-back would differ). "noise" is one part: stored.
  auto options = small_parts(pack_mode::batched, 1);
  options.max_part_bytes = 1 << 20;
  pending_folders pending(archive, options);
  auto mixed = noise(1 << 20, 5);
  const auto tail = redundant(2 << 20, 6);
  mixed.insert(mixed.end(), tail.begin(), tail.end());
  const auto alone = noise(900'000, 7);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  content[pending.add(file_entry("mixed", mixed))] = mixed;
  content[pending.add(file_entry("noise", alone))] = alone;
  pending.finish();
  const auto progress = pending.progress();
  // Whether a wrongly continued stream decodes wrong depends on the matches
  // its encoder happens to find (with these seeds it does); the counts say
  // which way the part was started.
  EXPECT_EQ(progress.primed_parts, 1u) << "the part after the uncompressed one starts a new stream";
  EXPECT_EQ(progress.continued_parts, 1u);
  EXPECT_EQ(progress.given_up_parts, 2u);
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 2u);
  for (const auto& folder : folders) {
    const auto& bytes = content.at(folder.ids.at(0));
    EXPECT_EQ(folder.crcs()[0], crc32::of(bytes));
    EXPECT_TRUE(read_back(reader, {folder.snapshot, folder.first_stream}) == bytes) << folder.ids[0];
    const bool stored = folder.folder().coders().at(0).method_id == kMethodCopy;
    EXPECT_EQ(stored, bytes.size() == alone.size());
    if (!stored) {
      EXPECT_LT(folder.packed.size, (1u << 20) + (1u << 20) / 2) << "the text compressed";
    }
  }
}

// A solid lane of random files (parts of several files, which the probe
// does not judge) is written in uncompressed chunks without an encoder, its
// first chunk resetting the dictionary, and reads back. A part holding a
// copy of a file of the part before it is compressed, primed with that
// part's input: the copy is found.
TEST_F(pending_test, ASolidLaneOfRandomFilesIsWrittenWithoutAnEncoderButADuplicateIsFound) {
  auto options = small_parts(pack_mode::solid, 1);
  options.level = 3;  // a dictionary of 4 MiB: the whole input
  options.max_part_bytes = 1 << 20;
  options.max_input_bytes = 8 << 20;  // everything is handed over while the worker is held
  pending_folders pending(archive, options);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  std::uint64_t input = 0;
  std::vector<std::vector<std::uint8_t>> files;
  for (std::uint32_t k = 0; k < 30; ++k) files.push_back(noise(100'000, 100 + k));
  files.push_back(files[0]);  // the first file is parts before it
  // Noise after it: the next part, taken as continuing the stream that
  // found the copy, is judged too and writes on in no stream.
  for (std::uint32_t k = 0; k < 15; ++k) files.push_back(noise(100'000, 200 + k));
  // The worker is held in the first part (cut at 200 KB for the idle worker),
  // so the others are cut full and the copy (3.0-3.1 MB) lies within the
  // fourth (2.3-3.3 MB): where an idle worker got parts cut early, the copy
  // could straddle two parts, both then compressed.
  auto gate = std::make_shared<gated_content::gate>();
  gate->set(false);
  const gates_opened_at_exit opener{{gate}};
  for (std::size_t k = 0; k < files.size(); ++k) {
    auto e = file_entry(name("blobs/b", static_cast<int>(k), ".bin"), files[k]);
    if (k == 0) e.content = std::make_shared<gated_content>(files[k], gate);
    content[pending.add(e)] = files[k];
    input += files[k].size();
    if (k == 1) {
      ASSERT_TRUE(gate->wait_visited()) << "the first part was not started";
    }
  }
  gate->set(true);
  pending.finish();
  const auto progress = pending.progress();
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  EXPECT_EQ(folders[0].folder().coders().at(0).method_id, kMethodLzma2);
  expect_reads_back(reader, folders[0], content);
  EXPECT_GE(progress.given_up_parts, 2u) << "the parts of noise alone";
  EXPECT_EQ(progress.primed_parts, 1u) << "the part with the copy";
  EXPECT_EQ(progress.continued_parts, 0u) << "a part judged incompressible continues no stream";
  EXPECT_LT(folders[0].packed.size, input - 90'000) << "the copy was not found";
  EXPECT_GT(folders[0].packed.size, input - 100'000);
}

TEST_F(pending_test, APartAfterOneThatGaveUpIsNotPrimedWithItsNoise) {
  // One worker, one file in four parts of 1 MiB of bytes from 224 values,
  // which liblzma shrinks by about 1 %: below 7.99 bits per byte, so not
  // judged incompressible, but every part's probe gives up, and no part is
  // primed with the data before it (a match-finder pass over a dictionary
  // of it, for nothing). The folder is one LZMA2 stream that resets its
  // dictionary at each part.
  auto options = small_parts(pack_mode::batched, 1);
  options.max_part_bytes = 1 << 20;
  pending_folders pending(archive, options);
  std::mt19937 rng(8);
  std::vector<std::uint8_t> bytes(4 << 20);
  for (auto& byte : bytes) byte = static_cast<std::uint8_t>(rng() % 224);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  content[pending.add(file_entry("noise.bin", bytes))] = bytes;
  pending.finish();
  const auto progress = pending.progress();
  EXPECT_EQ(progress.given_up_parts, 4u);
  EXPECT_EQ(progress.primed_parts, 0u);
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  expect_reads_back(reader, folders[0], content);
}

// Two copies of a 2 MiB random file in a solid lane, each cut into parts of
// its own (parts of 1 MiB): the parts of the first need no encoder, and
// those of the copy, primed with it, find it. (Judged by a probe, the
// first's parts gave up and handed on no primer: the copy was stored too.)
TEST_F(pending_test, ACopyOfALargeRandomFileIsFound) {
  auto options = small_parts(pack_mode::solid, 1);
  options.level = 3;  // a dictionary of 4 MiB: the whole input
  options.max_part_bytes = 1 << 20;
  pending_folders pending(archive, options);
  const auto random = noise(2 << 20, 31);
  std::map<pending_id, std::vector<std::uint8_t>> content;
  content[pending.add(file_entry("blobs/a.bin", random))] = random;
  content[pending.add(file_entry("blobs/b.bin", random))] = random;
  pending.finish();
  const auto progress = pending.progress();
  const auto folders = pending.take();
  ASSERT_EQ(folders.size(), 1u);
  expect_reads_back(reader, folders[0], content);
  EXPECT_GE(progress.given_up_parts, 2u) << "the first copy's parts";
  EXPECT_GE(progress.primed_parts, 1u);
  EXPECT_LT(folders[0].packed.size, random.size() + (64u << 10)) << "the copy was not found";
}
