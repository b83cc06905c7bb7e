/*
 * perf_event_open plumbing for reading kernel tracepoints without eBPF: per-CPU sampling events whose
 * samples land in mmapped ring buffers. See include/CPeriscopeLinux.h for the contract.
 */
#define _GNU_SOURCE
#include "CPeriscopeLinux.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>

int psc_tracefs_mount(const char *path) {
    if (mount("nodev", path, "tracefs", 0, NULL) < 0) return -errno;
    return 0;
}

int psc_perf_tracepoint_open(uint64_t id, int cpu, uint32_t wakeup_events) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = id;
    attr.sample_period = 1;            /* every hit; period-1 software events are never throttled */
    attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
    attr.wakeup_events = wakeup_events ? wakeup_events : 1;
    attr.use_clockid = 1;
    attr.clockid = CLOCK_MONOTONIC;
    attr.disabled = 1;
    long fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) return -errno;
    return (int)fd;
}

int psc_perf_enable(int fd, int enable) {
    if (ioctl(fd, enable ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0) < 0) return -errno;
    return 0;
}

int psc_perf_set_output(int fd, int target) {
    if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target) < 0) return -errno;
    return 0;
}

int psc_perf_ring_map(int fd, unsigned data_pages_log2, psc_perf_ring *ring) {
    if (!ring || data_pages_log2 > 16) return -EINVAL;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return -EINVAL;
    size_t data_size = (size_t)page << data_pages_log2;
    size_t mapped = (size_t)page + data_size;
    void *base = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return -errno;
    ring->fd = fd;
    ring->base = base;
    ring->mapped = mapped;
    ring->data_size = data_size;
    return 0;
}

void psc_perf_ring_unmap(psc_perf_ring *ring) {
    if (!ring) return;
    if (ring->base) munmap(ring->base, ring->mapped);
    memset(ring, 0, sizeof *ring);
}

/* Copies `len` bytes starting at logical position `pos` out of the circular data area. */
static void ring_copy(const uint8_t *data, size_t size, uint64_t pos, void *dst, size_t len) {
    size_t start = (size_t)(pos & (size - 1));
    size_t first = size - start;
    if (first >= len) {
        memcpy(dst, data + start, len);
    } else {
        memcpy(dst, data + start, first);
        memcpy((uint8_t *)dst + first, data, len - first);
    }
}

/* PERF_RECORD_SAMPLE body for TID | TIME | RAW: u32 pid, tid; u64 time; u32 size; u8 data[size]. */
#define SAMPLE_FIXED (4 + 4 + 8 + 4)

int psc_perf_ring_drain(psc_perf_ring *ring, psc_perf_sample *out, int cap, uint64_t *lost) {
    if (!ring || !ring->base || !out || cap <= 0) return 0;
    struct perf_event_mmap_page *meta = ring->base;
    const uint8_t *data = (const uint8_t *)ring->base + (ring->mapped - ring->data_size);
    size_t size = ring->data_size;
    /* Acquire pairs with the kernel's release of data_head: record bytes are visible once head is. */
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;   /* only this reader writes it */
    uint8_t rec[sizeof(struct perf_event_header) + SAMPLE_FIXED + PSC_PERF_RAW_MAX];
    int n = 0;
    while (head - tail > 0 && n < cap) {
        uint64_t avail = head - tail;
        struct perf_event_header hdr;
        if (avail < sizeof hdr || avail > size) { tail = head; if (lost) (*lost)++; break; }
        ring_copy(data, size, tail, &hdr, sizeof hdr);
        if (hdr.size < sizeof hdr || hdr.size > avail) { tail = head; if (lost) (*lost)++; break; }
        size_t want = hdr.size < sizeof rec ? hdr.size : sizeof rec;
        ring_copy(data, size, tail, rec, want);
        const uint8_t *body = rec + sizeof hdr;
        size_t body_len = want - sizeof hdr;
        if (hdr.type == PERF_RECORD_SAMPLE && body_len >= SAMPLE_FIXED) {
            psc_perf_sample *s = &out[n];
            memcpy(&s->pid, body, 4);
            memcpy(&s->tid, body + 4, 4);
            memcpy(&s->time, body + 8, 8);
            memcpy(&s->raw_size, body + 16, 4);
            size_t room = (size_t)hdr.size - sizeof hdr - SAMPLE_FIXED;   /* payload bytes in the record */
            size_t have = body_len - SAMPLE_FIXED;                          /* of which we copied */
            size_t copied = s->raw_size;
            if (copied > room) copied = room;
            if (copied > have) copied = have;
            s->copied = (uint32_t)copied;
            memset(s->raw, 0, sizeof s->raw);
            memcpy(s->raw, body + SAMPLE_FIXED, copied);
            n++;
        } else if (hdr.type == PERF_RECORD_LOST && body_len >= 16) {
            uint64_t count;
            memcpy(&count, body + 8, 8);       /* u64 id; u64 lost */
            if (lost) *lost += count;
        }
        tail += hdr.size;
    }
    /* Release: our reads of the records happen before the kernel may overwrite them. */
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
    return n;
}

static int64_t ns(const struct timespec *t) {
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int64_t psc_realtime_offset_ns(void) {
    int64_t best_gap = INT64_MAX, best = 0;
    for (int i = 0; i < 7; i++) {
        struct timespec m1, r, m2;
        clock_gettime(CLOCK_MONOTONIC, &m1);
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &m2);
        int64_t gap = ns(&m2) - ns(&m1);
        if (gap < best_gap) {
            best_gap = gap;
            best = ns(&r) - (ns(&m1) + gap / 2);
        }
    }
    return best;
}
