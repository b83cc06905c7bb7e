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
