#include "worker_pool.hpp"

namespace sevenzfs::archive {

worker_pool::worker_pool(std::size_t threads) : own_queues_(threads) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

worker_pool::~worker_pool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  threads_.clear();  // joins
}

void worker_pool::submit(job work) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
    ++queued_;
  }
  wake_.notify_one();
}

void worker_pool::submit_to(std::size_t worker, job work) {
  {
    std::lock_guard lock(mutex_);
    own_queues_.at(worker).push_back(std::move(work));
    ++queued_;
  }
  wake_.notify_all();  // notify_one might wake another worker
}

// While stopping, a worker stays until no job runs or waits in any queue: a
// job, running or yet to run on another worker, may still queue one for it.
void worker_pool::run(std::size_t worker) {
  auto& own = own_queues_[worker];
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return !own.empty() || !queue_.empty() || (stopping_ && idle()); });
    auto& from = !own.empty() ? own : queue_;
    if (from.empty()) return;
    job work = std::move(from.front());
    from.pop_front();
    --queued_;
    ++running_;
    lock.unlock();
    work(worker);
    work = nullptr;  // what the job holds goes before the next wait
    lock.lock();
    --running_;
    if (stopping_ && idle()) wake_.notify_all();
  }
}

}  // namespace sevenzfs::archive
