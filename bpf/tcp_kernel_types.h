/*
 * The few kernel types the TCP programs read (bpf/tcp_counters.bpf.c, bench/tcp-counters/tcp_iter.bpf.c), declared
 * with only the fields used and relocated by name against the running kernel's BTF (CO-RE), so no vmlinux.h.
 */
#ifndef PERISCOPE_TCP_KERNEL_TYPES_H
#define PERISCOPE_TCP_KERNEL_TYPES_H

struct seq_file;
struct bpf_map;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; } __attribute__((preserve_access_index));
struct ns_common { unsigned int inum; } __attribute__((preserve_access_index));
struct net { struct ns_common ns; } __attribute__((preserve_access_index));
typedef struct { struct net *net; } possible_net_t;
struct sock_common {
    unsigned short skc_family;
    volatile unsigned char skc_state;
    possible_net_t skc_net;
} __attribute__((preserve_access_index));
struct inode { unsigned long i_ino; } __attribute__((preserve_access_index));
struct socket { int state; } __attribute__((preserve_access_index));
/* A socket and its inode are one allocation (the kernel's SOCK_INODE): no file pointer to chase. */
struct socket_alloc { struct socket socket; struct inode vfs_inode; } __attribute__((preserve_access_index));
struct sock { struct sock_common __sk_common; struct socket *sk_socket; unsigned short sk_protocol; }
    __attribute__((preserve_access_index));
struct inet_sock { struct sock sk; } __attribute__((preserve_access_index));
struct inet_connection_sock { struct inet_sock icsk_inet; } __attribute__((preserve_access_index));
struct tcp_sock {
    struct inet_connection_sock inet_conn;
    __u32 srtt_us;
    __u32 mdev_us;
    __u32 total_retrans;
    __u64 bytes_acked;
    __u64 bytes_received;
} __attribute__((preserve_access_index));
/* Contexts of the two iterators (the kernel's bpf_iter__tcp and bpf_iter__bpf_sk_storage_map). */
struct bpf_iter__tcp { struct bpf_iter_meta *meta; struct sock_common *sk_common; __u32 uid; }
    __attribute__((preserve_access_index));
struct bpf_iter__bpf_sk_storage_map { struct bpf_iter_meta *meta; struct bpf_map *map; struct sock *sk; void *value; }
    __attribute__((preserve_access_index));

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#endif
