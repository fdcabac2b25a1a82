/* A pool of worker threads that runs the items of one op in parallel, the calling thread
 * working too. Each worker (the caller is worker 0) has a scratch buffer of its own, sized
 * before the run (kb_pool_reserve), so that no op allocates while it runs. */
#ifndef KERAS_BNN_THREADS_H
#define KERAS_BNN_THREADS_H

#include <stddef.h>

typedef struct kb_pool kb_pool;

/* `task(context, item, worker)` for one item; `worker` is in [0, threads). */
typedef void (*kb_task)(void *context, int item, int worker);

/* A pool of `threads` (>= 1) workers, the caller included; NULL when out of resources. */
kb_pool *kb_pool_create(int threads);
void kb_pool_destroy(kb_pool *pool);
int kb_pool_threads(const kb_pool *pool);

/* Makes every worker's scratch at least `bytes` long; 0 on success, -1 out of memory. */
int kb_pool_reserve(kb_pool *pool, size_t bytes);
void *kb_pool_scratch(kb_pool *pool, int worker);

/* Runs task on items 0 .. items-1 and returns when all are done. */
void kb_pool_run(kb_pool *pool, int items, kb_task task, void *context);

#endif /* KERAS_BNN_THREADS_H */
