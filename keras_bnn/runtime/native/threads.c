/* The worker pool (see threads.h).
 *
 * A run publishes its task by bumping `generation`; workers that finished the previous run
 * spin for a short while on that counter (a run of an op follows the previous one within
 * microseconds when only binary ops sit between them) and then sleep on a condition
 * variable, so that they leave the cores to the float ops that XNNPACK runs in its own
 * threads. Items are claimed with an atomic counter; the caller works too, then waits for
 * the other workers to finish theirs. */
#include "threads.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "denormals.h"
#include "memory.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define kb_relax() _mm_pause()
#else
#define kb_relax() ((void)0)
#endif

/* About 50 microseconds of pause instructions before a worker sleeps. */
enum { SPINS_BEFORE_SLEEP = 20000 };

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
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_mutex_t run_lock; /* one run at a time, should two interpreters share a pool */
  /* the current run */
  kb_task task;
  void *context;
  int items;
  int next_item;         /* atomic */
  int running;           /* atomic: workers (other than the caller) still on this run */
  unsigned long generation; /* atomic; changes under `lock` */
  bool stop;             /* under `lock` */
};

static void work(kb_pool *pool, int worker) {
  for (;;) {
    int item = __atomic_fetch_add(&pool->next_item, 1, __ATOMIC_RELAXED);
    if (item >= pool->items) return;
    pool->task(pool->context, item, worker);
  }
}

static void *worker_main(void *argument) {
  kb_worker *self = argument;
  kb_pool *pool = self->pool;
  unsigned long seen = 0;
  kb_flush_denormals(); /* workers only ever run the ops */
  for (;;) {
    for (int spin = 0; spin < SPINS_BEFORE_SLEEP &&
                       __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE) == seen;
         ++spin)
      kb_relax();
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop && __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE) == seen)
      pthread_cond_wait(&pool->wake, &pool->lock);
    bool stop = pool->stop;
    seen = __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&pool->lock);
    if (stop) return NULL;
    work(pool, self->index);
    __atomic_sub_fetch(&pool->running, 1, __ATOMIC_RELEASE);
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
  pthread_mutex_init(&pool->lock, NULL);
  pthread_mutex_init(&pool->run_lock, NULL);
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
  pthread_mutex_destroy(&pool->run_lock);
  pthread_mutex_destroy(&pool->lock);
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
  pool->items = items;
  __atomic_store_n(&pool->next_item, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&pool->running, pool->threads - 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&pool->lock);
  __atomic_add_fetch(&pool->generation, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  work(pool, 0);
  while (__atomic_load_n(&pool->running, __ATOMIC_ACQUIRE) > 0) kb_relax();
  pthread_mutex_unlock(&pool->run_lock);
}
