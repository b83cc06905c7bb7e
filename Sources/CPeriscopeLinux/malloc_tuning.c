// glibc malloc knobs for a long-running daemon (malloc.h is not visible to Swift).
#include "CPeriscopeLinux.h"

#include <malloc.h>

int psc_malloc_limit_arenas(int arenas) {
    // Each thread that allocates may otherwise get its own 64 MiB arena; the daemon has a handful of
    // threads (loop, collection, rendering, readers) and gains nothing from per-thread arenas.
    return mallopt(M_ARENA_MAX, arenas);
}

int psc_malloc_trim(void) {
    return malloc_trim(0);
}

int psc_malloc_mmap_threshold(int bytes) {
    // glibc starts at 128 KiB and raises the threshold to the size of each mmapped block freed, up to 32 MiB:
    // after the first pass at 10,000 connections every multi-megabyte array and dictionary of a pass lands in
    // the heap, where its pages stay until a trim and fragment it. A fixed threshold keeps them in their own
    // mappings, returned to the kernel as soon as they are freed.
    return mallopt(M_MMAP_THRESHOLD, bytes);
}
