/*
 * What the TCP counters programs (bpf/tcp_counters.bpf.c) and the daemon share: the record written for each tracked
 * TCP socket, and the output area the reading iterator fills. Included by the BPF object (clang -target bpf) and by
 * the user-space shim, so both agree byte for byte. Plain fixed-width types only: no kernel or libc headers.
 */
#ifndef PERISCOPE_TCP_COUNTERS_H
#define PERISCOPE_TCP_COUNTERS_H

#include <linux/types.h>

/* Records one read can hold (2.5 MiB); a host with more connected TCP sockets is read with sock_diag instead. */
#define PSC_TCP_COUNTERS_MAX 65536

/* The counters of one connected TCP socket, as `tcp_info` gives them (INET_DIAG_INFO). 40 bytes, no holes. */
struct psc_tcp_counters {
    __u64 inode;           /* the socket's inode (0: orphaned, no file) */
    __u64 bytes_acked;     /* tcpi_bytes_acked */
    __u64 bytes_received;  /* tcpi_bytes_received */
    __u32 rtt_us;          /* tcpi_rtt: srtt_us >> 3 */
    __u32 rttvar_us;       /* tcpi_rttvar: mdev_us >> 2 */
    __u32 total_retrans;   /* tcpi_total_retrans */
    __u32 netns;           /* inode number of the socket's network namespace */
};

/* The reading iterator's output (the object's .bss, mmapped by the daemon): `count` records were written, of
 * which the first PSC_TCP_COUNTERS_MAX are in `records`. */
struct psc_tcp_counters_out {
    __u32 count;
    __u32 reserved;
    struct psc_tcp_counters records[PSC_TCP_COUNTERS_MAX];
};

#endif
