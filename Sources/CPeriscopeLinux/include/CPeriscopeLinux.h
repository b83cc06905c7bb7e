/*
 * CPeriscopeLinux: thin C plumbing over Linux netlink (sock_diag, rtnetlink, the process connector).
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

#ifdef __cplusplus
}
#endif

#endif
