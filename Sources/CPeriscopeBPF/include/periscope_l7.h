/*
 * What the L7 BPF programs (bpf/l7.bpf.c) and the daemon share: the layout of the per-connection map.
 * Included by the BPF object (clang -target bpf) and by the user-space shim, so both agree byte for byte.
 * Plain fixed-width types only: no kernel or libc headers.
 */
#ifndef PERISCOPE_L7_H
#define PERISCOPE_L7_H

#include <linux/types.h>

/* Application protocols, as classified from the first bytes of a connection's messages. */
enum psc_l7_protocol {
    PSC_L7_UNKNOWN = 0,
    PSC_L7_HTTP = 1,      /* HTTP/1.x */
    PSC_L7_HTTP2 = 2,     /* HTTP/2 (prior knowledge or after upgrade), gRPC */
    PSC_L7_TLS = 3,       /* TLS: payload encrypted; only the SNI is read */
    PSC_L7_POSTGRES = 4,
    PSC_L7_MYSQL = 5,
    PSC_L7_REDIS = 6,
    PSC_L7_DNS = 7,       /* over UDP */
    PSC_L7_PROTOCOL_COUNT = 8,
};

/* Which side of the connection the observing process is. */
enum psc_l7_role { PSC_L7_ROLE_UNKNOWN = 0, PSC_L7_ROLE_CLIENT = 1, PSC_L7_ROLE_SERVER = 2 };

/* What a client-side entry knows of its connection's server side (TCP). A connection with both ends on this host
 * is seen twice (the client's writes and reads and the server's); when the server side is traced (its entry
 * announced itself in the programs' served map), the client side stops counting and the daemon gives the client
 * the server's figures: half the work per request on loopback and between local containers. */
enum psc_l7_peer {
    PSC_L7_PEER_UNCHECKED = 0,  /* not looked up yet (done at the client's first read) */
    PSC_L7_PEER_UNTRACED = 1,   /* the server side is not seen here (another host, io_uring, the daemon): count */
    PSC_L7_PEER_TRACED = 2,     /* the server side counts this connection: this entry stops at its lookup */
};

/* Response classes: OK (HTTP 1xx-3xx, PostgreSQL/Redis/MySQL success, DNS NOERROR), client error (HTTP 4xx),
 * server error (HTTP 5xx, PostgreSQL ErrorResponse, Redis error reply, MySQL ERR, DNS rcode != 0). */
enum psc_l7_status { PSC_L7_OK = 0, PSC_L7_CLIENT_ERROR = 1, PSC_L7_SERVER_ERROR = 2, PSC_L7_STATUS_COUNT = 3 };

/* Latency histogram in microseconds: values 0..7 exactly, then 8 linear sub-buckets per power of two
 * (bucket = (msb - 2) * 8 + next three bits), i.e. at most 12.5 % wide; the last bucket holds everything longer
 * (hours). */
#define PSC_L7_SUBBUCKETS 8
#define PSC_L7_BUCKETS 256

#define PSC_L7_PENDING 8          /* requests awaiting a response, per connection (pipelining depth kept) */
#define PSC_L7_SNI_MAX 64

/* Key of the connection map: the process and the kernel socket (with its ports, so a socket address reused
 * by a later connection is a new key). */
struct psc_l7_key {
    __u64 sk;
    __u32 tgid;
    __u16 lport;   /* host byte order */
    __u16 rport;
};

/* One process's view of one connection: cumulative since the map entry was made. */
struct psc_l7_conn {
    __u32 tgid;
    __u16 family;        /* AF_INET or AF_INET6 */
    __u8 l4;             /* IPPROTO_TCP or IPPROTO_UDP */
    __u8 protocol;       /* enum psc_l7_protocol */
    __u8 role;           /* enum psc_l7_role */
    __u8 sni_len;
    __u16 lport;
    __u16 rport;
    __u8 header_only;    /* MySQL: the last read was a packet header alone, its body comes in the next read */
    __u8 peer;           /* enum psc_l7_peer (client-side TCP entries) */
    __u8 laddr[16];      /* IPv4 in the first 4 bytes */
    __u8 raddr[16];
    __u64 requests;
    __u64 responses;
    __u64 status[PSC_L7_STATUS_COUNT];
    __u64 bytes_in;
    __u64 bytes_out;
    __u64 latency_sum_us;
    /* Pairing state: a ring of request timestamps. */
    __u64 pending[PSC_L7_PENDING];
    __u32 pending_head;
    __u32 pending_tail;
    char sni[PSC_L7_SNI_MAX];
    __u32 hist[PSC_L7_BUCKETS];
};

#endif
