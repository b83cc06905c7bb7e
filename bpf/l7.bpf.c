// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Periscope's L7 programs: what flows on each TCP connection (and DNS over UDP), from the read/write family of
 * syscall tracepoints. No kprobes: the socket behind a file descriptor is found through the current task's file
 * table with CO-RE reads (the minimal struct definitions below are relocated against the kernel's BTF).
 *
 * Only the exits of the read/write-like syscalls are traced (an entry tracepoint costs more than the exit's and
 * would double the runs): when bytes moved, the syscall's arguments are read back from the task's saved user
 * registers, the fd is looked up in the file table (a few loads; anything but a TCP or UDP inet socket stops
 * there), the first bytes are read, the connection's protocol is classified (once), requests are paired with
 * responses, and the connection's entry in `psc_conns` is updated: counts, response classes, a latency
 * histogram. A connection with both ends on this host is counted on its server's side only (psc_served: the
 * client's side stops at its first read when the server's side announced itself). Every time is the syscall's exit: a request is timed from the exit of its write (client) or read
 * (server), a response up to the exit of its write or read, so a latency is off by at most one syscall's
 * duration. Nothing is sent to user space per message: the daemon reads `psc_conns` at its refresh rate.
 * Layout of the map: Sources/CPeriscopeBPF/include/periscope_l7.h. The register names are x86-64's.
 *
 * Built by scripts/bpf-embed.sh (clang -target bpf), embedded in the daemon.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "periscope_l7.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* ---- The few kernel types read, relocated by name against the running kernel's BTF. ---- */
struct fdtable { unsigned int max_fds; struct file **fd; } __attribute__((preserve_access_index));
struct files_struct { struct fdtable *fdt; } __attribute__((preserve_access_index));
struct task_struct { struct files_struct *files; } __attribute__((preserve_access_index));
/* The user registers saved at syscall entry: the arguments, unchanged at exit (x86-64: di, si, dx, r10, r8). */
struct pt_regs {
    unsigned long di;
    unsigned long si;
    unsigned long dx;
    unsigned long r10;
    unsigned long r8;
} __attribute__((preserve_access_index));
struct inode { unsigned short i_mode; } __attribute__((preserve_access_index));
struct file { struct inode *f_inode; void *private_data; } __attribute__((preserve_access_index));
struct socket { struct sock *sk; } __attribute__((preserve_access_index));
struct in6_addr { unsigned char s6_addr[16]; };
struct sock_common {
    unsigned int skc_daddr;
    unsigned int skc_rcv_saddr;
    unsigned short skc_dport;
    unsigned short skc_num;
    unsigned short skc_family;
    struct in6_addr skc_v6_daddr;
    struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));
struct sock { struct sock_common __sk_common; unsigned short sk_protocol; } __attribute__((preserve_access_index));

/* Syscall exit tracepoint record (tracefs events/syscalls/sys_exit_x/format). */
struct exit_ctx { __u64 common; long nr; long ret; };

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define SCRATCH 512          /* bytes of each message looked at */
#define MASK (SCRATCH - 1)
#define HEAD 64              /* bytes read first; the rest of SCRATCH only when a decoder needs it */

enum dir { DIR_IN = 0, DIR_OUT = 1 };
/* BUF_TO: a plain buffer and a destination sockaddr (sendto's fifth argument; write's r8 is not an argument). */
enum buf_kind { BUF_PLAIN = 0, BUF_IOVEC = 1, BUF_MSGHDR = 2, BUF_TO = 3 };

/* The message of one syscall on an inet socket. */
struct active {
    __u64 sk;
    __u64 buf;       /* user pointer to the first bytes */
    __u64 dest;      /* sendto/sendmsg destination sockaddr (UDP), or 0 */
    __u64 iov;       /* readv/writev/recvmsg/sendmsg: the user's iovec array (0 for a plain buffer) */
    __u32 iovcnt;
    __u32 first_len; /* length of the first iovec */
    __u32 dir;
    __u32 l4;
    __u16 family;
    __u16 lport;
    __u16 rport;
    __u16 pad;
    __u32 tgid;      /* the calling process */
};

struct scratch { __u8 b[SCRATCH + PSC_L7_SNI_MAX]; };
struct h2_key { __u64 sk; __u32 stream; __u32 tgid; };

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, struct psc_l7_key);
    __type(value, struct psc_l7_conn);
} psc_conns SEC(".maps");

/* A TCP connection as its server side saw it: (client address, server address, ports). The server's entry
 * announces itself here when it is made; a client-side entry of the same connection (both ends on this host) finds
 * it at its first read and stops counting (see enum psc_l7_peer). */
struct served_key {
    __u8 client[16];
    __u8 server[16];
    __u16 client_port;
    __u16 server_port;
    __u32 family;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, struct served_key);
    __type(value, __u32);  /* the server's tgid */
} psc_served SEC(".maps");

/* Per CPU, the last sockets found PSC_L7_PEER_TRACED (a client side the server side counts), by a hash of the
 * socket's address: such a socket's messages stop at an array slot instead of a hash lookup in psc_conns. A slot
 * matches only the same key (socket, process, ports). It outlives the socket's psc_conns entry, which the daemon
 * deletes after a minute without traffic: a connection idle that long and then busy again stays skipped, and its
 * client's row lacks it until the slot is reused; the server's side, and so the edge, still count it. */
#define SKIP_SLOTS 256
struct skip_cache { struct psc_l7_key slot[SKIP_SLOTS]; };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct skip_cache);
} psc_skip SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct h2_key);
    __type(value, __u64);
} psc_h2 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} psc_scratch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct psc_l7_conn);
} psc_zero SEC(".maps");

static __always_inline __u32 at(const __u8 *b, __u32 i) { return b[i & MASK]; }
static __always_inline __u32 be16(const __u8 *b, __u32 i) { return (at(b, i) << 8) | at(b, i + 1); }
static __always_inline __u32 be32(const __u8 *b, __u32 i) {
    return (at(b, i) << 24) | (at(b, i + 1) << 16) | (at(b, i + 2) << 8) | at(b, i + 3);
}

/* The daemon's own process, set by the loader before loading: its reads and writes (of /proc, of its clients)
 * are dropped first. */
const volatile __u32 psc_self_tgid = 0;

/* A kernel pointer known only as a number, typed for direct loads (the verifier turns the call into a move; a load
 * through it that faults reads zero). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* Fills `a`'s socket fields for `fd` of the current task; returns 1 for a TCP/UDP inet socket. The file table
 * is walked with direct loads through BTF-typed pointers and one probe read (the fd array; a direct load of the slot
 * through a kernel struct that starts with a file pointer measured the same, ~1 ns per run); a non-socket stops
 * at its inode's mode. No per-fd cache: a map lookup would cost as much as the walk and need invalidation. */
static __always_inline int fd_socket(struct task_struct *task, __u64 fd, struct active *a) {
    struct fdtable *fdt = task->files->fdt;
    if (!fdt || fd >= fdt->max_fds) return 0;
    struct file **fds = fdt->fd;
    struct file *raw = 0;
    if (bpf_probe_read_kernel(&raw, sizeof raw, &fds[fd]) || !raw) return 0;
    struct file *file = bpf_rdonly_cast(raw, bpf_core_type_id_kernel(struct file));
    if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK) return 0;
    struct socket *sock = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
    struct sock *sk = sock->sk;
    if (!sk) return 0;
    a->family = sk->__sk_common.skc_family;
    if (a->family != AF_INET && a->family != AF_INET6) return 0;
    a->l4 = sk->sk_protocol;
    if (a->l4 != IPPROTO_TCP && a->l4 != IPPROTO_UDP) return 0;
    a->sk = (__u64)sk;
    a->lport = sk->__sk_common.skc_num;
    a->rport = __builtin_bswap16(sk->__sk_common.skc_dport);
    return 1;
}

/* Describes the message of the syscall that just returned (arguments from the saved registers: fd, buffer or
 * iovec array or msghdr, count, and sendto's destination); 0 when it is not on a socket we look at. */
static __always_inline int message(struct active *a, enum dir dir, enum buf_kind kind) {
    struct task_struct *task = bpf_get_current_task_btf();
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    if (!fd_socket(task, regs->di, a)) return 0;
    __u64 arg = regs->si, count = regs->dx, dest = kind == BUF_TO ? regs->r8 : 0;
    a->dir = dir;
    a->buf = arg;
    if (kind == BUF_MSGHDR) {
        /* struct user_msghdr: name at 0, iov at 16, iovlen at 24. */
        if (bpf_probe_read_user(&dest, sizeof dest, (void *)arg)) return 0;
        if (bpf_probe_read_user(&a->buf, sizeof a->buf, (void *)(arg + 16))) return 0;
        if (bpf_probe_read_user(&count, sizeof count, (void *)(arg + 24))) return 0;
        kind = BUF_IOVEC;
    }
    if (kind == BUF_IOVEC) {
        a->iov = a->buf;
        a->iovcnt = count > 64 ? 64 : (__u32)count;
        __u64 v[2] = {};  /* struct iovec { base, len } */
        if (bpf_probe_read_user(v, sizeof v, (void *)a->buf)) return 0;
        a->buf = v[0];
        a->first_len = v[1] > 0xffffffff ? 0xffffffff : (__u32)v[1];
    }
    if (a->l4 == IPPROTO_UDP) {
        /* Only DNS: a socket on port 53, talking to port 53, or already known as DNS. */
        __u16 to = 0;
        if (dest && dir == DIR_OUT) {
            __u16 port = 0;  /* sockaddr_in/_in6: port at offset 2 */
            bpf_probe_read_user(&port, sizeof port, (void *)(dest + 2));
            to = __builtin_bswap16(port);
        }
        if (a->lport != 53 && a->rport != 53 && to != 53) {
            struct psc_l7_key key = { .sk = a->sk, .tgid = a->tgid, .lport = a->lport, .rport = a->rport };
            if (!bpf_map_lookup_elem(&psc_conns, &key)) return 0;
        }
    }
    a->dest = dest;
    return a->buf != 0;
}

static __always_inline __u32 msb64(__u64 v) {
    __u32 r = 0;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8) { v >>= 8; r += 8; }
    if (v >> 4) { v >>= 4; r += 4; }
    if (v >> 2) { v >>= 2; r += 2; }
    if (v >> 1) { r += 1; }
    return r;
}

static __always_inline __u32 bucket(__u64 us) {
    if (us < PSC_L7_SUBBUCKETS) return (__u32)us;
    __u32 m = msb64(us);
    __u32 b = (m - 2) * PSC_L7_SUBBUCKETS + ((us >> (m - 3)) & (PSC_L7_SUBBUCKETS - 1));
    return b < PSC_L7_BUCKETS ? b : PSC_L7_BUCKETS - 1;
}

static __always_inline void add_latency(struct psc_l7_conn *c, __u64 us) {
    __sync_fetch_and_add(&c->hist[bucket(us) & (PSC_L7_BUCKETS - 1)], 1);
    __sync_fetch_and_add(&c->latency_sum_us, us);
}

static __always_inline void push_request(struct psc_l7_conn *c, __u64 ts) {
    __u32 t = c->pending_tail;
    if (t - c->pending_head >= PSC_L7_PENDING) c->pending_head = t - PSC_L7_PENDING + 1;
    c->pending[t & (PSC_L7_PENDING - 1)] = ts;
    c->pending_tail = t + 1;
    __sync_fetch_and_add(&c->requests, 1);
}

/* A response of class `cls`, now: pairs it with the oldest pending request. Returns 0 when none waited (and reads
 * no clock). */
static __always_inline int record_response(struct psc_l7_conn *c, __u32 cls) {
    __u32 h = c->pending_head;
    if (h == c->pending_tail) return 0;
    __u64 ts = bpf_ktime_get_ns();
    __u64 start = c->pending[h & (PSC_L7_PENDING - 1)];
    c->pending_head = h + 1;
    __sync_fetch_and_add(&c->responses, 1);
    if (cls >= PSC_L7_STATUS_COUNT) cls = PSC_L7_OK;
    __sync_fetch_and_add(&c->status[cls], 1);
    if (ts > start) {
        add_latency(c, (ts - start) / 1000);
    }
    return 1;
}

static __always_inline int is_http_request(const __u8 *b, __u32 n) {
    if (n < 8) return 0;
    __u32 w = be32(b, 0);
    return w == 0x47455420 /* "GET " */ || w == 0x504f5354 /* POST */ || w == 0x50555420 /* "PUT " */
        || w == 0x48454144 /* HEAD */ || w == 0x44454c45 /* DELE */ || w == 0x50415443 /* PATC */
        || w == 0x4f505449 /* OPTI */;
}

static __always_inline int is_http_response(const __u8 *b, __u32 n) {
    return n >= 12 && be32(b, 0) == 0x48545450 /* HTTP */ && at(b, 4) == '/' && at(b, 5) == '1';
}

struct scan_ctx { const __u8 *b; __u32 n; __u32 count; };

/* Position `p` starts a blank line followed by an upper-case letter, within the message's `n` bytes. */
static __always_inline int next_request_at(const __u8 *b, __u32 p, __u32 n) {
    if (p + 5 >= n || at(b, p) != '\r' || at(b, p + 1) != '\n' || at(b, p + 2) != '\r' || at(b, p + 3) != '\n')
        return 0;
    __u32 c = at(b, p + 4);
    return c >= 'A' && c <= 'Z';
}

/* One 8-byte word of the message per step: words without a '\r' (most) are passed over with one load. */
static long scan_step(__u32 i, void *data) {
    struct scan_ctx *ctx = data;
    const __u8 *b = ctx->b;
    __u32 p = i * 8;
    if (p + 5 >= ctx->n) return 1;
    __u64 w;
    __builtin_memcpy(&w, b + (p & (MASK & ~7u)), sizeof w);
    __u64 x = w ^ 0x0d0d0d0d0d0d0d0dULL;  /* a zero byte where w has '\r' */
    if (!((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL)) return 0;
#pragma unroll
    for (__u32 j = 0; j < 8; j++) {
        if (next_request_at(b, p + j, ctx->n) && ++ctx->count >= PSC_L7_PENDING) return 1;
    }
    return 0;
}

/* Requests in one message: 1 + the pipelined ones (a blank line followed by an upper-case method letter). */
static __always_inline __u32 http_requests(const __u8 *b, __u32 n) {
    if (n < 32) return 1;  /* room for one request only */
    struct scan_ctx ctx = { .b = b, .n = n, .count = 1 };
    bpf_loop(SCRATCH / 8, scan_step, &ctx, 0);
    return ctx.count;
}

static __always_inline void read_sni(struct psc_l7_conn *c, const __u8 *b, __u32 n) {
    /* record(5) handshake(4) version(2) random(32) = 43 */
    __u32 p = 43;
    p += 1 + at(b, p);                 /* session id */
    p += 2 + be16(b, p);               /* cipher suites */
    p += 1 + at(b, p);                 /* compression methods */
    p += 2;                            /* extensions length */
    for (int i = 0; i < 20; i++) {
        if (p + 9 > n || p + 9 > SCRATCH) return;
        __u32 type = be16(b, p), len = be16(b, p + 2);
        if (type == 0) {               /* server_name: list len(2) type(1) name len(2) name */
            __u32 name_len = be16(b, p + 7);
            if (name_len >= PSC_L7_SNI_MAX) name_len = PSC_L7_SNI_MAX - 1;
            __u32 off = (p + 9) & MASK;
            if (name_len > 0 && bpf_probe_read_kernel(c->sni, name_len & (PSC_L7_SNI_MAX - 1), b + off) == 0)
                c->sni_len = name_len;
            return;
        }
        p += 4 + len;
    }
}

/* Reads 16 bytes at offset `off` of the message, across the iovecs of a vectored call. */
static __always_inline int read_at(const struct active *a, __u32 off, __u8 *dst /* 32 bytes */) {
    if (!a->iov) return bpf_probe_read_user(dst, 16, (void *)(a->buf + off));
    for (int i = 0; i < 16; i++) {
        if (i >= a->iovcnt) return -1;
        __u64 v[2] = {};  /* struct iovec { base, len } */
        if (bpf_probe_read_user(v, sizeof v, (void *)(a->iov + i * 16))) return -1;
        if (off < v[1]) {
            __u64 avail = v[1] - off;
            if (avail >= 16) return bpf_probe_read_user(dst, 16, (void *)(v[0] + off));
            __u32 first = avail & 15;
            if (first && bpf_probe_read_user(dst, first, (void *)(v[0] + off))) return -1;
            if (i + 1 >= a->iovcnt) return 0;
            __u64 next = 0;
            if (bpf_probe_read_user(&next, sizeof next, (void *)(a->iov + (i + 1) * 16))) return -1;
            __u32 rest = (16 - first) & 15;
            if (rest) bpf_probe_read_user(dst + first, rest, (void *)next);
            return 0;
        }
        off -= v[1];
    }
    return -1;
}

/* HTTP/2: walks up to 8 frames of the message (from `off`), counting request HEADERS and pairing response
 * HEADERS with them by stream. */
__noinline int http2_frames(struct psc_l7_conn *c, const struct active *a, __u32 n, __u32 off) {
    if (!c || !a) return 0;
    int request_dir = (c->role == PSC_L7_ROLE_CLIENT) == (a->dir == DIR_OUT);
    __u32 tgid = a->tgid;
    __u64 ts = 0;
    for (int i = 0; i < 8; i++) {
        __u8 h[32] = {};
        if (off + 9 > n) return 0;
        if (read_at(a, off, h)) return 0;
        __u32 len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
        __u32 type = h[3], flags = h[4];
        __u32 stream = (((__u32)h[5] << 24) | ((__u32)h[6] << 16) | ((__u32)h[7] << 8) | h[8]) & 0x7fffffff;
        if (type == 1 && stream) {
            if (!ts) ts = bpf_ktime_get_ns();
            struct h2_key k = { .sk = a->sk, .stream = stream, .tgid = tgid };
            if (request_dir) {
                __sync_fetch_and_add(&c->requests, 1);
                bpf_map_update_elem(&psc_h2, &k, &ts, BPF_ANY);
            } else {
                __u64 *start = bpf_map_lookup_elem(&psc_h2, &k);
                if (start) {
                    __u32 p = 9 + ((flags & 0x8) ? 1 : 0) + ((flags & 0x20) ? 5 : 0);
                    __u32 first = p < 16 ? h[p & 15] : 0, cls = PSC_L7_OK;
                    if (first == 0x8c || first == 0x8d) cls = PSC_L7_CLIENT_ERROR;
                    else if (first == 0x8e) cls = PSC_L7_SERVER_ERROR;
                    else if ((first == 0x48 || first == 0x08 || first == 0x18) && p + 2 < 16 && h[(p + 1) & 15] == 3) {
                        __u32 digit = h[(p + 2) & 15];
                        cls = digit == '5' ? PSC_L7_SERVER_ERROR : digit == '4' ? PSC_L7_CLIENT_ERROR : PSC_L7_OK;
                    }
                    __u64 begun = *start;
                    bpf_map_delete_elem(&psc_h2, &k);
                    __sync_fetch_and_add(&c->responses, 1);
                    __sync_fetch_and_add(&c->status[cls], 1);
                    if (ts > begun) add_latency(c, (ts - begun) / 1000);
                }
            }
        }
        off += 9 + len;
    }
    return 0;
}

/* Classifies a connection's first recognisable message: protocol and the observer's role. */
static __always_inline int classify(const __u8 *b, __u32 n, const struct active *a, __u8 *protocol, __u8 *role) {
    int out = a->dir == DIR_OUT;
    if (a->l4 == IPPROTO_UDP) {
        if (n < 12 || be16(b, 4) == 0) return 0;
        int response = at(b, 2) & 0x80;
        *protocol = PSC_L7_DNS;
        *role = (out == !response) ? PSC_L7_ROLE_CLIENT : PSC_L7_ROLE_SERVER;
        return 1;
    }
    if (n >= 24 && be32(b, 0) == 0x50524920 && be32(b, 4) == 0x2a204854) {        /* "PRI * HT" */
        *protocol = PSC_L7_HTTP2;
        *role = out ? PSC_L7_ROLE_CLIENT : PSC_L7_ROLE_SERVER;
        return 1;
    }
    if (is_http_request(b, n)) {
        *protocol = PSC_L7_HTTP;
        *role = out ? PSC_L7_ROLE_CLIENT : PSC_L7_ROLE_SERVER;
        return 1;
    }
    if (n >= 44 && at(b, 0) == 0x16 && at(b, 1) == 0x03 && at(b, 5) == 0x01) {      /* TLS ClientHello */
        *protocol = PSC_L7_TLS;
        *role = out ? PSC_L7_ROLE_CLIENT : PSC_L7_ROLE_SERVER;
        return 1;
    }
    if (n >= 8) {
        __u32 len = be32(b, 0), code = be32(b, 4);
        if (len >= 8 && len < 10000 && (code == 0x00030000 || code == 80877103 || code == 80877104)) {
            *protocol = PSC_L7_POSTGRES;                                              /* startup / SSLRequest */
            *role = out ? PSC_L7_ROLE_CLIENT : PSC_L7_ROLE_SERVER;
            return 1;
        }
    }
    if (n >= 5 && at(b, 0) == '*' && at(b, 1) >= '0' && at(b, 1) <= '9'
        && (at(b, 3) == '$' || at(b, 4) == '$' || at(b, 5) == '$')) {                /* RESP array of bulk strings */
        *protocol = PSC_L7_REDIS;
        *role = out ? PSC_L7_ROLE_CLIENT : PSC_L7_ROLE_SERVER;
        return 1;
    }
    if (n >= 10 && at(b, 3) == 0 && at(b, 4) == 10 && at(b, 2) == 0
        && (at(b, 0) | (at(b, 1) << 8)) + 4 <= n + 64) {                             /* MySQL server greeting v10 */
        *protocol = PSC_L7_MYSQL;
        *role = out ? PSC_L7_ROLE_SERVER : PSC_L7_ROLE_CLIENT;
        return 1;
    }
    return 0;
}

/* A server-side TCP entry `c` (being made by process `tgid`) tells client-side entries on this host that it counts
 * their connection. */
static __always_inline void announce_served(const struct psc_l7_conn *c, __u32 tgid) {
    struct served_key k = { .client_port = c->rport, .server_port = c->lport, .family = c->family };
    __builtin_memcpy(k.client, c->raddr, sizeof k.client);
    __builtin_memcpy(k.server, c->laddr, sizeof k.server);
    bpf_map_update_elem(&psc_served, &k, &tgid, BPF_ANY);
}

/* Whether the server side of client-side entry `c`'s connection has an entry here. */
static __always_inline int server_traced(const struct psc_l7_conn *c) {
    struct served_key k = { .client_port = c->lport, .server_port = c->rport, .family = c->family };
    __builtin_memcpy(k.client, c->laddr, sizeof k.client);
    __builtin_memcpy(k.server, c->raddr, sizeof k.server);
    return bpf_map_lookup_elem(&psc_served, &k) != 0;
}

/* Reads the rest of the first `n` bytes (beyond HEAD) into the scratch buffer; 0 when that fails. */
static __always_inline int read_rest(struct scratch *s, const struct active *a, __u32 n) {
    if (n <= HEAD) return 1;
    if (n > SCRATCH) n = SCRATCH;
    return bpf_probe_read_user(s->b + HEAD, (n - HEAD) & (SCRATCH - 1), (void *)(a->buf + HEAD)) == 0;
}

/* One message on an inet socket. A global function, so the verifier checks it once on its own rather than in
 * every path of its caller (together they exceed the verifier's budget). */
__noinline int on_message(const struct active *a, long ret) {
    if (!a || ret <= 0) return 0;
    __u32 tgid = a->tgid;
    struct psc_l7_key key = { .sk = a->sk, .tgid = tgid, .lport = a->lport, .rport = a->rport };
    __u32 zero = 0;
    struct skip_cache *skip = bpf_map_lookup_elem(&psc_skip, &zero);
    if (!skip) return 0;
    struct psc_l7_key *slot = &skip->slot[((a->sk >> 6) ^ (a->sk >> 14)) & (SKIP_SLOTS - 1)];
    __u64 ids = ((__u64)key.rport << 48) | ((__u64)key.lport << 32) | key.tgid;  /* key's second word */
    if (slot->sk == key.sk && (((__u64)slot->rport << 48) | ((__u64)slot->lport << 32) | slot->tgid) == ids)
        return 0;  /* the server side counts this connection */
    struct psc_l7_conn *c = bpf_map_lookup_elem(&psc_conns, &key);
    if (c && c->peer == PSC_L7_PEER_TRACED) {
        *slot = key;
        return 0;
    }
    struct scratch *s = bpf_map_lookup_elem(&psc_scratch, &zero);
    if (!s) return 0;
    __u32 n = ret > SCRATCH ? SCRATCH : (__u32)ret;
    if (a->iov && n > a->first_len) n = a->first_len;   /* the first bytes are those of the first iovec */
    __u32 head = n > HEAD ? HEAD : n;
    if (bpf_probe_read_user(s->b, head & (HEAD * 2 - 1), (void *)a->buf)) return 0;
    const __u8 *b = s->b;
    int fresh = 0;
    if (!c) {
        __u8 protocol = 0, role = 0;
        if (!classify(b, n, a, &protocol, &role)) return 0;
        struct psc_l7_conn *z = bpf_map_lookup_elem(&psc_zero, &zero);
        if (!z) return 0;
        z->tgid = tgid;
        z->family = a->family;
        z->l4 = a->l4;
        z->protocol = protocol;
        z->role = role;
        z->lport = a->lport;
        z->rport = a->rport;
        struct sock *sk = (struct sock *)a->sk;
        __builtin_memset(z->laddr, 0, sizeof z->laddr);  /* z is reused: an IPv4 address fills 4 bytes */
        __builtin_memset(z->raddr, 0, sizeof z->raddr);
        if (a->family == AF_INET) {
            BPF_CORE_READ_INTO((__u32 *)z->laddr, sk, __sk_common.skc_rcv_saddr);
            BPF_CORE_READ_INTO((__u32 *)z->raddr, sk, __sk_common.skc_daddr);
        } else {
            BPF_CORE_READ_INTO((struct in6_addr *)z->laddr, sk, __sk_common.skc_v6_rcv_saddr);
            BPF_CORE_READ_INTO((struct in6_addr *)z->raddr, sk, __sk_common.skc_v6_daddr);
        }
        z->peer = PSC_L7_PEER_UNCHECKED;
        bpf_map_update_elem(&psc_conns, &key, z, BPF_NOEXIST);
        if (role == PSC_L7_ROLE_SERVER && a->l4 == IPPROTO_TCP) announce_served(z, tgid);
        c = bpf_map_lookup_elem(&psc_conns, &key);
        if (!c) return 0;
        fresh = 1;
    }
    int out = a->dir == DIR_OUT;
    if (!out && c->peer == PSC_L7_PEER_UNCHECKED && c->role == PSC_L7_ROLE_CLIENT && c->l4 == IPPROTO_TCP) {
        /* The client's first read: the server has read a request (or sent its greeting) by now, so its entry, if
         * its side is traced here, has announced itself. Looked up once per connection. */
        c->peer = server_traced(c) ? PSC_L7_PEER_TRACED : PSC_L7_PEER_UNTRACED;
        if (c->peer == PSC_L7_PEER_TRACED) {
            *slot = key;
            return 0;
        }
    }
    if (out) __sync_fetch_and_add(&c->bytes_out, (__u64)ret);
    else __sync_fetch_and_add(&c->bytes_in, (__u64)ret);
    int request_dir = (c->role == PSC_L7_ROLE_CLIENT) == out;
    /* A request starts when the client has sent it / the server has read it; a response when the server has
     * sent it / the client has read it (each at the syscall's exit). The clock is read only then: a message in the
     * middle of a request or response (a long body's later reads and writes) costs no clock read. */

    switch (c->protocol) {
    case PSC_L7_HTTP:
        if (request_dir) {
            if (!is_http_request(b, n)) break;
            if (!read_rest(s, a, n)) break;
            __u32 count = http_requests(b, n);
            __u64 ts = bpf_ktime_get_ns();
            for (__u32 i = 0; i < PSC_L7_PENDING; i++) {
                if (i >= count) break;
                push_request(c, ts);
            }
        } else if (is_http_response(b, n)) {
            __u32 digit = at(b, 9);
            record_response(c, digit == '5' ? PSC_L7_SERVER_ERROR : digit == '4' ? PSC_L7_CLIENT_ERROR : PSC_L7_OK);
        }
        break;
    case PSC_L7_HTTP2: {
        __u32 off = (n >= 24 && be32(b, 0) == 0x50524920) ? 24 : 0;
        http2_frames(c, a, (__u32)(ret > 0xffffff ? 0xffffff : ret), off);
        break;
    }
    case PSC_L7_TLS:
        if (fresh && at(b, 5) == 0x01 && read_rest(s, a, n)) read_sni(c, b, n);
        break;
    case PSC_L7_POSTGRES: {
        __u32 tag = at(b, 0);
        if (request_dir) {
            if (tag == 'Q' || tag == 'P' || tag == 'B') push_request(c, bpf_ktime_get_ns());
        } else if (c->pending_head != c->pending_tail) {
            /* Walk the server's messages in this write: an ErrorResponse anywhere makes it an error. */
            __u32 cls = PSC_L7_OK, p = 0;
            if (!read_rest(s, a, n)) break;
            for (int i = 0; i < 12; i++) {
                if (p + 5 > n) break;
                if (at(b, p) == 'E') { cls = PSC_L7_SERVER_ERROR; break; }
                p += 1 + be32(b, p + 1);
            }
            record_response(c, cls);
        }
        break;
    }
    case PSC_L7_MYSQL: {
        /* A packet is a 4-byte header (length, sequence) and a body; a reader may take the header alone
         * (mariadbd does) and the body in its next read. */
        if (!out && n == 4) {
            c->header_only = request_dir ? at(b, 3) == 0 : 1;  /* a command starts with sequence 0 */
            break;
        }
        __u32 body = 4;
        if (!out && c->header_only) body = 0;
        else if (n < 5 || (request_dir && at(b, 3) != 0)) { c->header_only = 0; break; }
        c->header_only = 0;
        __u32 first = at(b, body);
        if (request_dir) {
            if (first == 0x03 || first == 0x16 || first == 0x17) push_request(c, bpf_ktime_get_ns());  /* QUERY, PREPARE, EXECUTE */
        } else if (c->pending_head != c->pending_tail) {
            record_response(c, first == 0xff ? PSC_L7_SERVER_ERROR : PSC_L7_OK);
        }
        break;
    }
    case PSC_L7_REDIS: {
        __u32 first = at(b, 0);
        if (request_dir) {
            if (first == '*') push_request(c, bpf_ktime_get_ns());
        } else {
            record_response(c, (first == '-' || first == '!') ? PSC_L7_SERVER_ERROR : PSC_L7_OK);
        }
        break;
    }
    case PSC_L7_DNS:
        if (n < 12) break;
        if (request_dir) {
            if (!(at(b, 2) & 0x80)) push_request(c, bpf_ktime_get_ns());
        } else if (at(b, 2) & 0x80) {
            record_response(c, (at(b, 3) & 0xf) ? PSC_L7_SERVER_ERROR : PSC_L7_OK);
        }
        break;
    }
    return 0;
}

static __always_inline void on_exit(long ret, enum dir dir, enum buf_kind kind) {
    if (ret <= 0) return;  /* EAGAIN, EOF, errors: nothing moved */
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (tgid == psc_self_tgid) return;
    struct active a = { .tgid = tgid };
    if (!message(&a, dir, kind)) return;
    on_message(&a, ret);
}

#define TRACE(name, dir, kind)                                                                              \
    SEC("tracepoint/syscalls/sys_exit_" #name)                                                              \
    int exit_##name(struct exit_ctx *ctx) {                                                                 \
        on_exit(ctx->ret, dir, kind);                                                                       \
        return 0;                                                                                           \
    }

TRACE(read, DIR_IN, BUF_PLAIN)
TRACE(recvfrom, DIR_IN, BUF_PLAIN)
TRACE(readv, DIR_IN, BUF_IOVEC)
TRACE(recvmsg, DIR_IN, BUF_MSGHDR)
TRACE(write, DIR_OUT, BUF_PLAIN)
TRACE(sendto, DIR_OUT, BUF_TO)
TRACE(writev, DIR_OUT, BUF_IOVEC)
TRACE(sendmsg, DIR_OUT, BUF_MSGHDR)
