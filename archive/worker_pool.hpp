#pragma once
// A fixed set of threads running queued jobs. Each job gets the index of the
// worker running it, so per-worker state (an LZMA2 encoder) needs no
// locking. A job may be queued for any worker or for one (its encoder holds
// what the job needs); each queue is FIFO, and a worker runs its own jobs
// before shared ones. Threads are joined on destruction; queued jobs still
// run, and so do jobs that running jobs submit meanwhile.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sevenzfs::archive {

class worker_pool {
 public:
  using job = std::move_only_function<void(std::size_t worker)>;

  explicit worker_pool(std::size_t threads);
  ~worker_pool();
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // Any worker runs it.
  void submit(job work);
  // Worker `worker` (below size()) runs it.
  void submit_to(std::size_t worker, job work);
  std::size_t size() const noexcept { return threads_.size(); }

 private:
  void run(std::size_t worker);
  bool idle() const { return running_ == 0 && queued_ == 0; }  // under mutex_

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  std::vector<std::deque<job>> own_queues_;  // per worker
  std::size_t running_ = 0;                  // jobs being run
  std::size_t queued_ = 0;                   // jobs in all queues
  bool stopping_ = false;
  std::vector<std::jthread> threads_;
};

}  // namespace sevenzfs::archive
