/*
 * A thin C layer over libbpf (Debian's libbpf-dev) for the daemon's L7 programs: load an embedded BPF object,
 * attach every program to its tracepoint, read the connection map, and read the programs' run-time statistics.
 * All functions are blocking system calls; call them from one thread at a time per handle.
 */
#ifndef CPERISCOPE_BPF_H
#define CPERISCOPE_BPF_H

#include <stddef.h>
#include <stdint.h>
#include "periscope_l7.h"
#include "periscope_tcp_counters.h"

typedef struct psc_bpf psc_bpf;

/* One entry of the connection map. */
typedef struct {
    struct psc_l7_key key;
    struct psc_l7_conn conn;
} psc_l7_entry;

/* Loads the BPF object in `object` (`size` bytes), verifies it and attaches all its programs; the programs skip
 * the calling process (the object's `psc_self_tgid`). On failure returns NULL with a sentence in `error` (the
 * kernel verifier's or libbpf's last message). */
psc_bpf *psc_bpf_open(const void *object, size_t size, char *error, size_t error_size);

/* Detaches, unloads, frees. */
void psc_bpf_close(psc_bpf *bpf);

/* Number of attached programs. */
int psc_bpf_program_count(const psc_bpf *bpf);

/* Copies up to `max` entries of the map `psc_conns` into `out`; returns how many, or -errno. */
int psc_bpf_read_conns(psc_bpf *bpf, psc_l7_entry *out, int max);

/* Deletes one entry of `psc_conns` (a connection read for the last time). */
int psc_bpf_delete_conn(psc_bpf *bpf, const struct psc_l7_key *key);

/* Sum over the attached programs of run_time_ns and run_cnt (non-zero only while kernel.bpf_stats_enabled=1). */
int psc_bpf_run_stats(const psc_bpf *bpf, uint64_t *run_time_ns, uint64_t *run_count);

/* ---- TCP counters (bpf/tcp_counters.bpf.c): tcp_info figures of the tracked connected TCP sockets. ---- */

typedef struct psc_tcpc psc_tcpc;

/* Loads the counters object, attaches its state tracepoint and its two iterators, maps its output. On failure
 * returns NULL with a sentence in `error`. The calling thread's network namespace is not seeded yet. */
psc_tcpc *psc_tcpc_open(const void *object, size_t size, char *error, size_t error_size);

/* Detaches, unloads, frees. */
void psc_tcpc_close(psc_tcpc *h);

/* Tracks the connected TCP sockets that already exist in the calling thread's network namespace (one TCP
 * iterator run). 0 or -errno. */
int psc_tcpc_seed(psc_tcpc *h);

/* psc_tcpc_seed from a thread that entered the network namespace `netns_fd` (an open /proc/PID/ns/net). */
int psc_tcpc_seed_in_netns(psc_tcpc *h, int netns_fd);

/* Reads the counters of every tracked socket (all namespaces): returns their number with `*records` pointing at
 * them (valid until the next call), -ENOSPC when there are more than PSC_TCP_COUNTERS_MAX, or -errno. One thread
 * at a time. */
int psc_tcpc_read(psc_tcpc *h, const struct psc_tcp_counters **records);

/* Kernel run time and runs of the state tracepoint program so far (it runs in the processes whose sockets change
 * state; non-zero only while kernel.bpf_stats_enabled=1). 0 or -errno. */
int psc_tcpc_track_stats(const psc_tcpc *h, uint64_t *run_time_ns, uint64_t *run_count);

#endif
