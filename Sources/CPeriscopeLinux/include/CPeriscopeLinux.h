/*
 * CPeriscopeLinux: thin C plumbing over Linux netlink (sock_diag, rtnetlink, the process connector)
 * and perf tracepoint rings (perf_tracepoint.c).
 *
 * Swift cannot use the NLMSG_* / RTA_* macros, so everything that walks netlink messages lives here and
 * hands Swift flat, fixed-size records. All functions are thread-safe (no globals) and never abort on
 * kernel input: malformed messages are skipped. Errors are returned as negative errno values.
 */
#ifndef CPERISCOPE_LINUX_H
#define CPERISCOPE_LINUX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------- generic netlink sockets ---------- */

enum {
    PSC_NETLINK_ROUTE = 0,      /* NETLINK_ROUTE */
    PSC_NETLINK_SOCK_DIAG = 4,  /* NETLINK_SOCK_DIAG */
};

/* Opens a netlink socket of `protocol` (NETLINK_SOCK_DIAG = 4, NETLINK_ROUTE = 0) in the calling thread's
 * network namespace. Returns the fd, or -errno. */
int psc_netlink_open(int protocol);

/* Opens a netlink socket of `protocol` inside the network namespace referred to by `netns_fd`
 * (an open /proc/PID/ns/net). A private short-lived pthread calls setns() and socket(); the calling
 * thread's namespace never changes. The socket stays bound to that namespace. Returns fd or -errno. */
int psc_netlink_open_in_netns(int netns_fd, int protocol);

/* Opens `path` as an O_PATH | O_DIRECTORY descriptor (for *at() calls under /proc/PID). fd or -1/errno. */
int psc_open_path_directory(const char *path);

/* An eventfd (EFD_CLOEXEC) used to wake a thread blocked in poll(). fd or -1/errno. */
int psc_eventfd(void);

/* Names the calling thread (truncated to 15 bytes), for top/ps. */
void psc_set_thread_name(const char *name);

/* ---------- sock_diag ---------- */

/* One inet socket from a SOCK_DIAG_BY_FAMILY dump. Addresses in network byte order, ports in host order. */
typedef struct psc_sock {
    uint8_t family;        /* AF_INET (2) or AF_INET6 (10) */
    uint8_t protocol;      /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
    uint8_t state;         /* kernel TCP_* state number */
    uint8_t has_info;      /* 1 when a struct tcp_info was attached */
    uint16_t sport;
    uint16_t dport;
    uint8_t src[16];
    uint8_t dst[16];
    uint32_t uid;
    uint32_t rtt_us;
    uint32_t rttvar_us;
    uint32_t total_retrans;
    uint64_t inode;
    uint64_t bytes_acked;
    uint64_t bytes_received;
} psc_sock;

/* A growable array filled by psc_sockdiag_dump. Start zeroed; release with psc_sock_list_free. */
typedef struct psc_sock_list {
    psc_sock *items;
    size_t count;
    size_t capacity;
} psc_sock_list;

/* Mask of every TCP state 1...11 (ESTABLISHED through CLOSING, no request sockets). */
#define PSC_ALL_STATES 0xFFEu

/* Dumps the sockets of one family/protocol from a NETLINK_SOCK_DIAG socket, appending to `out`.
 * `states` is a bit mask of (1 << TCP_state); `want_info` asks for INET_DIAG_INFO (tcp_info).
 * Returns 0, or -errno (the socket should then be closed and reopened). */
int psc_sockdiag_dump(int fd, uint8_t family, uint8_t protocol, uint32_t states, int want_info,
                      psc_sock_list *out);

void psc_sock_list_free(psc_sock_list *list);

/* Parses one buffer received from a SOCK_DIAG_BY_FAMILY dump answering `seq` (no socket involved: what
 * psc_sockdiag_dump does with each recv(), exposed for tests and fuzzing). `buf` must be 4-byte aligned.
 * Appends the sockets to `out`. Returns 0 when more buffers are expected, 1 when the dump ended, or -errno
 * (an NLMSG_ERROR answer, ENOMEM). */
int psc_sockdiag_parse(const void *buf, size_t len, uint32_t seq, uint8_t protocol, psc_sock_list *out);

/* ---------- rtnetlink interface addresses ---------- */

typedef struct psc_addr {
    int32_t ifindex;
    uint8_t family;        /* AF_INET or AF_INET6 */
    uint8_t prefixlen;
    uint8_t addr[16];
    char name[17];         /* interface name, NUL-terminated (IFNAMSIZ = 16) */
} psc_addr;

typedef struct psc_addr_list {
    psc_addr *items;
    size_t count;
    size_t capacity;
} psc_addr_list;

/* Dumps links (for names) then addresses over a NETLINK_ROUTE socket. Returns 0 or -errno. */
int psc_route_dump_addrs(int fd, psc_addr_list *out);

void psc_addr_list_free(psc_addr_list *list);

/* Parses one buffer of RTM_NEWLINK and RTM_NEWADDR messages answering `seq` (no socket: for tests and
 * fuzzing); interface names come from the links earlier in the same buffer. `buf` must be 4-byte aligned.
 * Returns 0 when more buffers are expected, 1 when the dump ended, or -errno. */
int psc_route_parse(const void *buf, size_t len, uint32_t seq, psc_addr_list *out);

/* ---------- process connector ---------- */

enum {
    PSC_PROC_FORK = 1,
    PSC_PROC_EXEC = 2,
    PSC_PROC_EXIT = 3,
};

typedef struct psc_proc_event {
    uint32_t kind;         /* PSC_PROC_* */
    int32_t pid;           /* child (fork), process (exec, exit) */
    int32_t other;         /* parent tgid (fork), exit code (exit) */
} psc_proc_event;

/* Opens a NETLINK_CONNECTOR socket joined to CN_IDX_PROC, sets a large receive buffer and sends
 * PROC_CN_MCAST_LISTEN. Needs CAP_NET_ADMIN. Returns fd or -errno. */
int psc_proc_connector_open(void);

/* Sends PROC_CN_MCAST_IGNORE (best effort) before the socket is closed. */
void psc_proc_connector_ignore(int fd);

/* Parses one datagram read from the connector into at most `cap` events (threads are filtered out:
 * only process-level fork, exec and exit are reported). Returns the number of events written. */
int psc_proc_connector_parse(const void *buf, size_t len, psc_proc_event *out, int cap);

/* Reads what the connector socket holds now (MSG_DONTWAIT, recvmmsg: up to 32 datagrams a call) and parses it into
 * at most `cap` events. Returns the number of events written; fewer than `cap` means the socket was drained
 * (`cap` means there may be more: call again). Each ENOBUFS (the kernel dropped events: the buffer overran) adds one
 * to `*overruns` and reading goes on. Returns -errno on any other error before an event was read. */
int psc_proc_connector_read(int fd, psc_proc_event *out, int cap, uint64_t *overruns);

/* ---------- perf tracepoints (perf_event_open, no eBPF) ---------- */

/* Mounts tracefs at `path` (e.g. "/sys/kernel/tracing") in the caller's mount namespace. 0 or -errno. */
int psc_tracefs_mount(const char *path);

/* Opens a sampling event (created disabled) for tracepoint `id` (from tracefs events/CAT/NAME/id) on one
 * CPU, all processes (pid = -1): sample_period 1, sample_type TID | TIME | RAW, timestamps on
 * CLOCK_MONOTONIC, wakeup after `wakeup_events` samples (1 = every sample). Needs CAP_PERFMON or
 * CAP_SYS_ADMIN (or perf_event_paranoid <= -1). Returns the fd (O_CLOEXEC) or -errno. */
int psc_perf_tracepoint_open(uint64_t id, int cpu, uint32_t wakeup_events);

/* PERF_EVENT_IOC_ENABLE / _DISABLE. 0 or -errno. */
int psc_perf_enable(int fd, int enable);

/* PERF_EVENT_IOC_SET_OUTPUT: `fd`'s samples go to the ring mmapped on `target` (same CPU; `fd` itself is never
 * mmapped). 0 or -errno. */
int psc_perf_set_output(int fd, int target);

/* An mmapped perf ring buffer: one metadata page followed by 2^k data pages. */
typedef struct psc_perf_ring {
    int fd;
    void *base;            /* the metadata page (struct perf_event_mmap_page) */
    size_t mapped;         /* total mapped bytes */
    size_t data_size;      /* bytes of the data area (a power of two) */
} psc_perf_ring;

/* Maps 1 + 2^`data_pages_log2` pages of `fd`. 0 or -errno (EPERM: over perf_event_mlock_kb). */
int psc_perf_ring_map(int fd, unsigned data_pages_log2, psc_perf_ring *ring);

/* Unmaps (the fd is not closed). Safe on a zeroed ring; leaves it zeroed. */
void psc_perf_ring_unmap(psc_perf_ring *ring);

/* Bytes of raw tracepoint data kept per sample; longer payloads are truncated (raw_size tells). */
#define PSC_PERF_RAW_MAX 128

/* One PERF_RECORD_SAMPLE of an event opened by psc_perf_tracepoint_open. */
typedef struct psc_perf_sample {
    uint32_t pid;          /* thread group id of `current` when the tracepoint fired */
    uint32_t tid;
    uint64_t time;         /* CLOCK_MONOTONIC nanoseconds */
    uint32_t raw_size;     /* the tracepoint payload's size as the kernel sent it */
    uint32_t copied;       /* bytes of it copied into `raw` (min(raw_size, PSC_PERF_RAW_MAX)) */
    uint8_t raw[PSC_PERF_RAW_MAX];   /* the payload: the tracepoint's fields at the format file's offsets */
} psc_perf_sample;

/* Copies up to `cap` samples out of the ring, oldest first (records that straddle the ring's end are
 * reassembled), and releases the space they used. PERF_RECORD_LOST counts are added to `*lost`; other
 * record types are skipped. A corrupt header (size 0 or beyond the data) discards everything pending
 * and adds 1 to `*lost`. Returns the number of samples written; when it equals `cap` more may be
 * pending. Only one thread may drain a given ring. */
int psc_perf_ring_drain(psc_perf_ring *ring, psc_perf_sample *out, int cap, uint64_t *lost);

/* CLOCK_REALTIME minus CLOCK_MONOTONIC in nanoseconds, from the tightest of a few bracketed readings. */
int64_t psc_realtime_offset_ns(void);

/* ---- malloc tuning (malloc_tuning.c) ---- */
/* Caps glibc's malloc arenas (mallopt M_ARENA_MAX). Call once, early, before threads start. */
int psc_malloc_limit_arenas(int arenas);
/* Returns free heap memory to the kernel (malloc_trim(0)); 1 if memory was released. */
int psc_malloc_trim(void);
/* Fixes the size from which glibc serves an allocation with its own mmap (mallopt M_MMAP_THRESHOLD; this also
 * stops glibc raising the threshold after each large free, and with it the trim threshold). 1 on success. */
int psc_malloc_mmap_threshold(int bytes);

#ifdef __cplusplus
}
#endif

#endif
