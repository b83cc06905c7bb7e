/*
 * Netlink plumbing for Periscope's collectors. See include/CPeriscopeLinux.h for the contract.
 */
#define _GNU_SOURCE
#include "CPeriscopeLinux.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <linux/tcp.h>
#include <linux/connector.h>
#include <linux/cn_proc.h>

#define PSC_RECV_BUFFER (64 * 1024)

#include <fcntl.h>

int psc_open_path_directory(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

#include <sys/eventfd.h>

int psc_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC);
}

void psc_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = 0;
    (void)pthread_setname_np(pthread_self(), truncated);
}

/* ---------- sockets ---------- */

int psc_netlink_open(int protocol) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -errno;
    struct sockaddr_nl local;
    memset(&local, 0, sizeof local);
    local.nl_family = AF_NETLINK;
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

struct netns_open_args {
    int netns_fd;
    int protocol;
    int result;
};

static void *netns_open_thread(void *p) {
    struct netns_open_args *args = p;
    /* setns() changes only this thread's namespace; the thread ends right after, so nothing else
     * ever runs in the foreign namespace. */
    if (setns(args->netns_fd, CLONE_NEWNET) < 0) {
        args->result = -errno;
        return NULL;
    }
    args->result = psc_netlink_open(args->protocol);
    return NULL;
}

int psc_netlink_open_in_netns(int netns_fd, int protocol) {
    struct netns_open_args args = { netns_fd, protocol, -EINVAL };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_open_thread, &args);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    return args.result;
}

/* ---------- request / receive helpers ---------- */

static int send_request(int fd, void *msg, size_t len) {
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    struct iovec iov = { msg, len };
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &kernel;
    mh.msg_namelen = sizeof kernel;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    for (;;) {
        ssize_t n = sendmsg(fd, &mh, 0);
        if (n >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

/* Calls `each` for every message of a multipart dump answering `seq`, until NLMSG_DONE.
 * `each` returns 0 to continue or -errno to stop. */
typedef int (*msg_fn)(const struct nlmsghdr *h, void *ctx);

/* Walks one received buffer of a dump answering `seq`: calls `each` for every message until NLMSG_DONE.
 * Returns 1 when the dump ended (NLMSG_DONE, an NLMSG_ERROR answer or a failed `each`, with `*result` set),
 * 0 when more buffers are expected. Never reads outside `buf[0..<len]`. */
static int walk_dump(const void *buf, size_t len, uint32_t seq, msg_fn each, void *ctx, int *result) {
    int left = len > 0x7fffffff ? 0x7fffffff : (int)len;
    for (const struct nlmsghdr *h = buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq) continue;          /* stale message from an aborted dump */
        if (h->nlmsg_type == NLMSG_DONE) return 1;
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *err = NLMSG_DATA(h);
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof *err)) *result = -EIO;
            else *result = err->error ? err->error : 0;
            return 1;
        }
        int rc = each(h, ctx);
        if (rc < 0) { *result = rc; return 1; }
    }
    return 0;
}

static int receive_dump(int fd, uint32_t seq, msg_fn each, void *ctx) {
    char *buf = malloc(PSC_RECV_BUFFER);
    if (!buf) return -ENOMEM;
    int result = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, PSC_RECV_BUFFER, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            result = -errno;
            break;
        }
        if (n == 0) { result = -EIO; break; }
        if (walk_dump(buf, (size_t)n, seq, each, ctx, &result)) break;
    }
    free(buf);
    return result;
}

static uint32_t next_seq(void) {
    static _Atomic uint32_t seq = 1;
    return seq++;
}

/* ---------- sock_diag ---------- */

static int append_sock(psc_sock_list *out, psc_sock **slot) {
    if (out->count == out->capacity) {
        size_t cap = out->capacity ? out->capacity * 2 : 1024;
        psc_sock *items = realloc(out->items, cap * sizeof *items);
        if (!items) return -ENOMEM;
        out->items = items;
        out->capacity = cap;
    }
    *slot = &out->items[out->count++];
    return 0;
}

struct diag_ctx {
    psc_sock_list *out;
    uint8_t protocol;
};

static int on_diag_msg(const struct nlmsghdr *h, void *p) {
    struct diag_ctx *ctx = p;
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return 0;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) return 0;
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    psc_sock *s;
    int rc = append_sock(ctx->out, &s);
    if (rc < 0) return rc;
    memset(s, 0, sizeof *s);
    s->family = m->idiag_family;
    s->protocol = ctx->protocol;
    s->state = m->idiag_state;
    s->sport = ntohs(m->id.idiag_sport);
    s->dport = ntohs(m->id.idiag_dport);
    size_t alen = m->idiag_family == AF_INET ? 4 : 16;
    memcpy(s->src, m->id.idiag_src, alen);
    memcpy(s->dst, m->id.idiag_dst, alen);
    s->uid = m->idiag_uid;
    s->inode = m->idiag_inode;

    int attrlen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *m);
    for (const struct rtattr *a = (const struct rtattr *)(m + 1); RTA_OK(a, attrlen); a = RTA_NEXT(a, attrlen)) {
        if (a->rta_type != INET_DIAG_INFO) continue;
        struct tcp_info info;
        memset(&info, 0, sizeof info);
        size_t n = RTA_PAYLOAD(a);
        if (n > sizeof info) n = sizeof info;
        memcpy(&info, RTA_DATA(a), n);      /* older kernels send a shorter struct: rest stays 0 */
        s->has_info = 1;
        s->rtt_us = info.tcpi_rtt;
        s->rttvar_us = info.tcpi_rttvar;
        s->total_retrans = info.tcpi_total_retrans;
        s->bytes_acked = info.tcpi_bytes_acked;
        s->bytes_received = info.tcpi_bytes_received;
    }
    return 0;
}

int psc_sockdiag_dump(int fd, uint8_t family, uint8_t protocol, uint32_t states, int want_info,
                      psc_sock_list *out) {
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    uint32_t seq = next_seq();
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = seq;
    req.r.sdiag_family = family;
    req.r.sdiag_protocol = protocol;
    req.r.idiag_states = states;
    if (want_info) req.r.idiag_ext = 1 << (INET_DIAG_INFO - 1);
    int rc = send_request(fd, &req, sizeof req);
    if (rc < 0) return rc;
    struct diag_ctx ctx = { out, protocol };
    return receive_dump(fd, seq, on_diag_msg, &ctx);
}

int psc_sockdiag_parse(const void *buf, size_t len, uint32_t seq, uint8_t protocol, psc_sock_list *out) {
    struct diag_ctx ctx = { out, protocol };
    int result = 0;
    if (!walk_dump(buf, len, seq, on_diag_msg, &ctx, &result)) return 0;
    return result < 0 ? result : 1;
}

void psc_sock_list_free(psc_sock_list *list) {
    if (!list) return;
    free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

/* ---------- rtnetlink ---------- */

struct link_name { int32_t index; char name[17]; };

struct route_ctx {
    psc_addr_list *out;
    struct link_name *links;
    size_t nlinks, caplinks;
};

static int on_link_msg(const struct nlmsghdr *h, void *p) {
    struct route_ctx *ctx = p;
    if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) return 0;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    int attrlen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *ifi);
    for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, attrlen); a = RTA_NEXT(a, attrlen)) {
        if (a->rta_type != IFLA_IFNAME) continue;
        if (ctx->nlinks == ctx->caplinks) {
            size_t cap = ctx->caplinks ? ctx->caplinks * 2 : 16;
            struct link_name *links = realloc(ctx->links, cap * sizeof *links);
            if (!links) return -ENOMEM;
            ctx->links = links;
            ctx->caplinks = cap;
        }
        struct link_name *l = &ctx->links[ctx->nlinks++];
        l->index = ifi->ifi_index;
        size_t n = RTA_PAYLOAD(a);
        if (n > 16) n = 16;
        memset(l->name, 0, sizeof l->name);
        memcpy(l->name, RTA_DATA(a), n);
    }
    return 0;
}

static int on_addr_msg(const struct nlmsghdr *h, void *p) {
    struct route_ctx *ctx = p;
    if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg))) return 0;
    const struct ifaddrmsg *ifa = NLMSG_DATA(h);
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return 0;
    size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
    const void *address = NULL, *local = NULL;
    int attrlen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *ifa);
    for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, attrlen); a = RTA_NEXT(a, attrlen)) {
        if (RTA_PAYLOAD(a) < alen) continue;
        if (a->rta_type == IFA_ADDRESS) address = RTA_DATA(a);
        else if (a->rta_type == IFA_LOCAL) local = RTA_DATA(a);
    }
    const void *chosen = local ? local : address;   /* on point-to-point links IFA_ADDRESS is the peer */
    if (!chosen) return 0;
    psc_addr_list *out = ctx->out;
    if (out->count == out->capacity) {
        size_t cap = out->capacity ? out->capacity * 2 : 16;
        psc_addr *items = realloc(out->items, cap * sizeof *items);
        if (!items) return -ENOMEM;
        out->items = items;
        out->capacity = cap;
    }
    psc_addr *r = &out->items[out->count++];
    memset(r, 0, sizeof *r);
    r->ifindex = (int32_t)ifa->ifa_index;
    r->family = ifa->ifa_family;
    r->prefixlen = ifa->ifa_prefixlen;
    memcpy(r->addr, chosen, alen);
    for (size_t i = 0; i < ctx->nlinks; i++) {
        if (ctx->links[i].index == r->ifindex) {
            memcpy(r->name, ctx->links[i].name, sizeof r->name);
            break;
        }
    }
    return 0;
}

static int route_dump(int fd, uint16_t type, msg_fn each, struct route_ctx *ctx) {
    struct {
        struct nlmsghdr h;
        struct rtgenmsg g;
    } req;
    memset(&req, 0, sizeof req);
    uint32_t seq = next_seq();
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.g);
    req.h.nlmsg_type = type;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = seq;
    req.g.rtgen_family = AF_UNSPEC;
    int rc = send_request(fd, &req, req.h.nlmsg_len);
    if (rc < 0) return rc;
    return receive_dump(fd, seq, each, ctx);
}

int psc_route_dump_addrs(int fd, psc_addr_list *out) {
    struct route_ctx ctx = { out, NULL, 0, 0 };
    int rc = route_dump(fd, RTM_GETLINK, on_link_msg, &ctx);
    if (rc == 0) rc = route_dump(fd, RTM_GETADDR, on_addr_msg, &ctx);
    free(ctx.links);
    return rc;
}

static int on_route_msg(const struct nlmsghdr *h, void *p) {
    return h->nlmsg_type == RTM_NEWLINK ? on_link_msg(h, p) : on_addr_msg(h, p);
}

int psc_route_parse(const void *buf, size_t len, uint32_t seq, psc_addr_list *out) {
    struct route_ctx ctx = { out, NULL, 0, 0 };
    int result = 0;
    int done = walk_dump(buf, len, seq, on_route_msg, &ctx, &result);
    free(ctx.links);
    if (!done) return 0;
    return result < 0 ? result : 1;
}

void psc_addr_list_free(psc_addr_list *list) {
    if (!list) return;
    free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

/* ---------- process connector ---------- */

static int proc_connector_send(int fd, enum proc_cn_mcast_op op) {
    /* nlmsghdr | cn_msg | op, laid out by hand (cn_msg ends in a flexible array). */
    char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))];
    memset(buf, 0, sizeof buf);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof op);
    h->nlmsg_type = NLMSG_DONE;
    struct cn_msg *cn = NLMSG_DATA(h);
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof op;
    memcpy(cn->data, &op, sizeof op);
    return send_request(fd, buf, h->nlmsg_len);
}

int psc_proc_connector_open(void) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0) return -errno;
    int size = 8 * 1024 * 1024;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_nl local;
    memset(&local, 0, sizeof local);
    local.nl_family = AF_NETLINK;
    local.nl_groups = CN_IDX_PROC;
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = proc_connector_send(fd, PROC_CN_MCAST_LISTEN);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

void psc_proc_connector_ignore(int fd) {
    (void)proc_connector_send(fd, PROC_CN_MCAST_IGNORE);
}

int psc_proc_connector_parse(const void *buf, size_t len, psc_proc_event *out, int cap) {
    int count = 0;
    int left = len > 0x7fffffff ? 0x7fffffff : (int)len;
    for (const struct nlmsghdr *h = buf; NLMSG_OK(h, left) && count < cap; h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_NOOP) continue;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct cn_msg))) continue;
        const struct cn_msg *cn = NLMSG_DATA(h);
        if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
        /* The event header (what, cpu, timestamp) precedes the union; need at least the exit payload. */
        size_t avail = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct cn_msg));
        if (cn->len > avail || cn->len < offsetof(struct proc_event, event_data) + sizeof(uint32_t) * 2) continue;
        struct proc_event ev;
        memset(&ev, 0, sizeof ev);
        memcpy(&ev, cn->data, cn->len < sizeof ev ? cn->len : sizeof ev);
        psc_proc_event *e = &out[count];
        switch (ev.what) {
        case PROC_EVENT_FORK:
            if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid) continue;  /* a thread */
            e->kind = PSC_PROC_FORK;
            e->pid = ev.event_data.fork.child_tgid;
            e->other = ev.event_data.fork.parent_tgid;
            break;
        case PROC_EVENT_EXEC:
            e->kind = PSC_PROC_EXEC;
            e->pid = ev.event_data.exec.process_tgid;
            e->other = 0;
            break;
        case PROC_EVENT_EXIT:
            if (ev.event_data.exit.process_pid != ev.event_data.exit.process_tgid) continue;
            e->kind = PSC_PROC_EXIT;
            e->pid = ev.event_data.exit.process_tgid;
            e->other = (int32_t)ev.event_data.exit.exit_code;
            break;
        default:
            continue;
        }
        count++;
    }
    return count;
}

int psc_proc_connector_read(int fd, psc_proc_event *out, int cap, uint64_t *overruns) {
    /* Connector datagrams are ~100 bytes: 32 slots of 512 take every message a batch of a build brings in a
     * few calls. A datagram cut short (MSG_TRUNC) is parsed as far as it goes, which drops it. */
    enum { SLOTS = 32, SLOT = 512 };
    unsigned char bufs[SLOTS][SLOT] __attribute__((aligned(8)));
    struct iovec iov[SLOTS];
    struct mmsghdr msgs[SLOTS];
    int count = 0;
    while (count < cap) {
        int want = cap - count < SLOTS ? cap - count : SLOTS;
        memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)want);
        for (int i = 0; i < want; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = SLOT;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, msgs, (unsigned)want, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == ENOBUFS) {
                if (overruns) (*overruns)++;
                continue;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || count > 0) return count;
            return -errno;
        }
        for (int i = 0; i < n && count < cap; i++)
            count += psc_proc_connector_parse(bufs[i], msgs[i].msg_len, out + count, cap - count);
        if (n < want) return count;  /* the socket is drained */
    }
    return count;
}
