#include "worker_pool.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sevenzfs::archive {

worker_pool::worker_pool(std::size_t threads, int nice) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this, i, nice] { run(i, nice); });
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
  }
  wake_.notify_one();
}

void worker_pool::run(std::size_t worker, int nice) {
  // On Linux a thread id names one thread here. A failure leaves the
  // priority as it was, which only costs the others some time.
  if (nice > 0) {
    const auto thread = static_cast<id_t>(::gettid());
    errno = 0;
    const int now = ::getpriority(PRIO_PROCESS, thread);
    if (errno == 0) (void)::setpriority(PRIO_PROCESS, thread, std::min(now + nice, 19));
  }
  for (;;) {
    job work;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work(worker);
  }
}

}  // namespace sevenzfs::archive
