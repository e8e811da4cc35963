/* atomics.h - named memory-order wrappers over C11 <stdatomic.h>
 *
 * Every shared-memory access in tickpipe goes through one of these so the
 * order is in the name at the call site (as liburing's barrier.h does).
 * Nothing here defaults to seq_cst except tp_fence_full(), which exists for
 * the Dekker-style waiter handshake in wait.h and says so.
 */
#ifndef TP_ATOMICS_H
#define TP_ATOMICS_H

#include <stdatomic.h>
#include <stdint.h>

#define TP_CACHELINE 64
#define tp_cacheline_aligned _Alignas(TP_CACHELINE)

#define load_relaxed(p)      atomic_load_explicit((p), memory_order_relaxed)
#define load_acquire(p)      atomic_load_explicit((p), memory_order_acquire)
#define store_relaxed(p, v)  atomic_store_explicit((p), (v), memory_order_relaxed)
#define store_release(p, v)  atomic_store_explicit((p), (v), memory_order_release)
#define fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define exchange_acq_rel(p, v)  atomic_exchange_explicit((p), (v), memory_order_acq_rel)

/* StoreLoad barrier: orders an earlier store before a later load. Only the
 * blocking wait strategy needs it (producer: publish index, then look at the
 * waiter flag; consumer: raise the flag, then re-read the index). */
#define tp_fence_full()      atomic_thread_fence(memory_order_seq_cst)

/* Seqlock fences (rings/seqlock.h): order relaxed data accesses against
 * the sequence word. */
#define tp_fence_release()   atomic_thread_fence(memory_order_release)
#define tp_fence_acquire()   atomic_thread_fence(memory_order_acquire)
/* Compiler-only barrier: orders this thread's stores as a successor process
 * that starts after this one died will see them (stages/undo.h). */
#define signal_fence()       atomic_signal_fence(memory_order_seq_cst)

/* Single-writer counter bump: the owner is the only writer, so a relaxed
 * load and store (no locked RMW) are enough; readers in other processes see
 * a value that is at worst one update behind. */
static inline void counter_add(_Atomic uint64_t *c, uint64_t v)
{
	store_relaxed(c, load_relaxed(c) + v);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#define tp_likely(x)   __builtin_expect(!!(x), 1)
#define tp_unlikely(x) __builtin_expect(!!(x), 0)

#endif
