/* The worker pool (see threads.h).
 *
 * A run publishes its task under a new generation number; its items are claimed one at a
 * time with a compare-and-swap on a word that holds the generation and the next item, so a
 * worker that wakes up late cannot take an item of a later run. The caller works too and
 * returns as soon as every item is done, whoever did it: a worker that is still asleep
 * costs that run its parallelism, never a wait for the worker to wake (a wake-up took a
 * millisecond on a 2-vCPU virtual machine).
 *
 * Between runs, a worker spins for up to 2 ms (the float ops that XNNPACK runs between two
 * binary ops take about that), yielding its CPU to any other runnable thread, XNNPACK's
 * own workers included; then it sleeps on a condition variable. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "denormals.h"
#include "memory.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define kb_relax() _mm_pause()
#else
#define kb_relax() ((void)0)
#endif

enum { SPIN_NANOSECONDS = 2000000, SPINS_PER_YIELD = 64 };

typedef struct kb_worker {
  kb_pool *pool;
  int index;
  pthread_t thread;
  void *scratch;
} kb_worker;

struct kb_pool {
  int threads;
  kb_worker *workers;
  size_t scratch_bytes;
  pthread_mutex_t run_lock; /* one run at a time, should two interpreters share a pool */
  pthread_mutex_t lock;     /* for sleeping and waking */
  pthread_cond_t wake;
  int sleepers;             /* under `lock` */
  bool stop;                /* under `lock` */
  /* the current run: task and context are written before `claim` publishes them */
  kb_task task;
  void *context;
  int items;           /* atomic */
  int done;            /* atomic: items of the current run finished */
  uint64_t claim;      /* atomic: generation << 32 | next item */
  uint32_t generation; /* atomic: of the current run */
};

static long long now_nanoseconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Runs items of run `generation` until none is left or a later run has begun. */
static void work(kb_pool *pool, uint32_t generation, int worker) {
  uint64_t claim = __atomic_load_n(&pool->claim, __ATOMIC_ACQUIRE);
  for (;;) {
    if ((uint32_t)(claim >> 32) != generation ||
        (int)(uint32_t)claim >= __atomic_load_n(&pool->items, __ATOMIC_RELAXED))
      return;
    if (!__atomic_compare_exchange_n(&pool->claim, &claim, claim + 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_ACQUIRE))
      continue; /* `claim` now holds the current value */
    pool->task(pool->context, (int)(uint32_t)claim, worker);
    __atomic_add_fetch(&pool->done, 1, __ATOMIC_RELEASE);
    claim = __atomic_load_n(&pool->claim, __ATOMIC_ACQUIRE);
  }
}

/* Waits for a run after `seen`: spinning first, then asleep. Returns its generation, or
 * `seen` when the pool stops. */
static uint32_t next_run(kb_pool *pool, uint32_t seen) {
  const long long deadline = now_nanoseconds() + SPIN_NANOSECONDS;
  for (unsigned spins = 1; __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE) == seen;
       ++spins) {
    kb_relax();
    if (spins % SPINS_PER_YIELD == 0) {
      sched_yield();
      if (now_nanoseconds() > deadline) break;
    }
  }
  pthread_mutex_lock(&pool->lock);
  while (!pool->stop && __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE) == seen) {
    ++pool->sleepers;
    pthread_cond_wait(&pool->wake, &pool->lock);
    --pool->sleepers;
  }
  const uint32_t generation = pool->stop ? seen : __atomic_load_n(&pool->generation,
                                                                  __ATOMIC_ACQUIRE);
  pthread_mutex_unlock(&pool->lock);
  return generation;
}

static void *worker_main(void *argument) {
  kb_worker *self = argument;
  kb_pool *pool = self->pool;
  kb_flush_denormals(); /* workers only ever run the ops */
  uint32_t seen = 0;
  for (;;) {
    const uint32_t generation = next_run(pool, seen);
    if (generation == seen) return NULL; /* stopped */
    seen = generation;
    work(pool, generation, self->index);
  }
}

kb_pool *kb_pool_create(int threads) {
  if (threads < 1) threads = 1;
  kb_pool *pool = kb_alloc(sizeof(kb_pool));
  if (pool == NULL) return NULL;
  pool->workers = kb_alloc(sizeof(kb_worker) * (size_t)threads);
  if (pool->workers == NULL) {
    kb_free(pool);
    return NULL;
  }
  pthread_mutex_init(&pool->run_lock, NULL);
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pool->threads = 1;
  pool->workers[0].pool = pool;
  for (int i = 1; i < threads; ++i) {
    kb_worker *worker = &pool->workers[i];
    worker->pool = pool;
    worker->index = i;
    if (pthread_create(&worker->thread, NULL, worker_main, worker) != 0) break;
    pool->threads = i + 1;
  }
  return pool;
}

void kb_pool_destroy(kb_pool *pool) {
  if (pool == NULL) return;
  pthread_mutex_lock(&pool->lock);
  pool->stop = true;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 1; i < pool->threads; ++i) pthread_join(pool->workers[i].thread, NULL);
  for (int i = 0; i < pool->threads; ++i) kb_free(pool->workers[i].scratch);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->lock);
  pthread_mutex_destroy(&pool->run_lock);
  kb_free(pool->workers);
  kb_free(pool);
}

int kb_pool_threads(const kb_pool *pool) { return pool->threads; }

int kb_pool_reserve(kb_pool *pool, size_t bytes) {
  if (bytes <= pool->scratch_bytes) return 0;
  for (int i = 0; i < pool->threads; ++i) {
    void *scratch = kb_alloc(bytes);
    if (scratch == NULL) return -1;
    kb_free(pool->workers[i].scratch);
    pool->workers[i].scratch = scratch;
  }
  pool->scratch_bytes = bytes;
  return 0;
}

void *kb_pool_scratch(kb_pool *pool, int worker) { return pool->workers[worker].scratch; }

void kb_pool_run(kb_pool *pool, int items, kb_task task, void *context) {
  if (items <= 0) return;
  if (pool->threads == 1 || items == 1) {
    for (int item = 0; item < items; ++item) task(context, item, 0);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  pool->task = task;
  pool->context = context;
  __atomic_store_n(&pool->items, items, __ATOMIC_RELAXED);
  __atomic_store_n(&pool->done, 0, __ATOMIC_RELAXED);
  const uint32_t generation = __atomic_load_n(&pool->generation, __ATOMIC_RELAXED) + 1;
  __atomic_store_n(&pool->claim, (uint64_t)generation << 32, __ATOMIC_RELEASE);
  pthread_mutex_lock(&pool->lock);
  __atomic_store_n(&pool->generation, generation, __ATOMIC_RELEASE);
  if (pool->sleepers > 0) pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  work(pool, generation, 0);
  while (__atomic_load_n(&pool->done, __ATOMIC_ACQUIRE) < items) kb_relax();
  pthread_mutex_unlock(&pool->run_lock);
}
