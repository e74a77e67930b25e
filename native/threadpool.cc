// The pool behind parallel_for: workers spin briefly after a job (kernels often run back to back), then sleep on a
// condition variable so an idle process costs no CPU.
#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace resnet {
namespace {

// One step of a spin-wait. After a few pauses it yields instead: when the pool shares a core with other work (or
// with itself, oversubscribed), the thread being waited for may need this core to finish.
inline void spin_step(unsigned& spins) {
  if (++spins > 64) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long a worker polls for the next job, and the caller for the workers to finish, before sleeping: long enough
// to bridge the gaps between kernels that run back to back and the uneven ends of a job's parts, short enough that
// an idle process goes quiet at once. Waking a sleeping thread takes 15-40 µs on these VMs. At 50 µs, resnet50 at
// batch 1 (86 jobs a forward) lost 1.2 ms a forward to workers that started late and 0.2 ms to a caller that slept
// through the end of a job; at 1 ms, 0.4 and 0.05, and the forward's best time was 0.2-0.5 ms lower in each of 6
// alternating runs.
constexpr auto kSpinTime = std::chrono::microseconds(1000);

thread_local bool tls_inside_pool_job = false;

size_t default_num_threads() {
  if (const char* env = std::getenv("RESNET_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0) return static_cast<size_t>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  explicit ThreadPool(size_t threads) { start(threads); }

  // Lock-free so that code already running inside a job (which holds owner_) can ask.
  size_t size() const { return size_.load(std::memory_order_relaxed); }

  void resize(size_t threads) {
    std::lock_guard<std::mutex> hold(owner_);
    stop();
    start(threads);
  }

  void run(size_t n, const std::function<void(size_t)>& fn) {
    // try_lock: a second JS thread (worker_threads) or a nested call must not wait for, or join, a running job.
    std::unique_lock<std::mutex> hold(owner_, std::try_to_lock);
    if (!hold.owns_lock() || tls_inside_pool_job || workers_.empty() || n == 1) {
      for (size_t i = 0; i < n; i++) fn(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      job_size_ = n;
      next_.store(0, std::memory_order_relaxed);
      error_ = nullptr;
      open_.store(true, std::memory_order_seq_cst);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    // Every index is claimed. Close the job so that a worker that has not joined yet (asleep, or descheduled on a
    // machine shared with other processes) stays out, and wait only for those running an index.
    open_.store(false, std::memory_order_seq_cst);
    wait_for_workers();
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void start(size_t threads) {
    stopping_.store(false, std::memory_order_relaxed);
    // The generation is read here, not in the new thread: a job posted before the thread first runs must still
    // count as new to it, or the caller would wait forever for a worker that thinks it has seen that job.
    const uint64_t seen = generation_.load(std::memory_order_acquire);
    for (size_t t = 1; t < threads; t++) workers_.emplace_back([this, seen] { worker_loop(seen); });
    size_.store(threads, std::memory_order_relaxed);
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_.store(true, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void work() {
    tls_inside_pool_job = true;
    for (;;) {
      size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= job_size_) break;
      try {
        (*job_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    tls_inside_pool_job = false;
  }

  void wait_for_workers() {
    auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    unsigned spins = 0;
    while (active_workers_.load(std::memory_order_seq_cst) != 0) {
      if (std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mutex_);
        caller_waiting_.store(true, std::memory_order_seq_cst);
        done_.wait(lock, [this] { return active_workers_.load(std::memory_order_seq_cst) == 0; });
        caller_waiting_.store(false, std::memory_order_relaxed);
        return;
      }
      spin_step(spins);
    }
  }

  void worker_loop(uint64_t seen) {
    for (;;) {
      auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
      unsigned spins = 0;
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < spin_until) {
        spin_step(spins);
      }
      // The mutex is for sleeping only: a worker that saw the job while spinning goes straight to it rather than
      // contend with the caller, which publishes jobs under the mutex.
      if (generation_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      // The job's fields and stopping_ are written before the generation is released.
      seen = generation_.load(std::memory_order_acquire);
      if (stopping_.load(std::memory_order_relaxed)) return;
      // Join only while the job is open. With both operations sequentially consistent, either the caller sees this
      // increment after closing (and waits for us) or we see the job closed (and never touch it).
      active_workers_.fetch_add(1, std::memory_order_seq_cst);
      if (open_.load(std::memory_order_seq_cst)) work();
      // The last worker out wakes the caller only when it sleeps: either the caller sees the count reach zero
      // before sleeping, or we see its flag (both sequentially consistent); the mutex then orders the notify after
      // its predicate check, so the wakeup cannot be lost.
      if (active_workers_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          caller_waiting_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::mutex owner_;  // held by the one caller whose job the workers run, and by resize
  std::mutex mutex_;  // guards the job fields and the condition variables
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  std::atomic<size_t> size_{1};
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> next_{0};
  std::atomic<size_t> active_workers_{0};  // workers inside the current job
  std::atomic<bool> open_{false};             // whether workers may still join the current job
  const std::function<void(size_t)>* job_ = nullptr;
  size_t job_size_ = 0;
  std::exception_ptr error_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> caller_waiting_{false};  // the caller sleeps on done_
};

ThreadPool& pool() {
  // Never destroyed: joining workers from static destructors at exit could wait on a job that another JS thread
  // (worker_threads) is still running; the OS reclaims the threads instead.
  static ThreadPool* instance = new ThreadPool(default_num_threads());
  return *instance;
}

}  // namespace

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  pool().run(n, fn);
}

bool in_parallel_for() { return tls_inside_pool_job; }

size_t num_threads() { return pool().size(); }

void set_num_threads(size_t n) { pool().resize(std::max<size_t>(1, n)); }

}  // namespace resnet
