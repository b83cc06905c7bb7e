/* See include/CPeriscopeBPF.h (psc_tcpc_*) and bpf/tcp_counters.bpf.c. */
#define _GNU_SOURCE
#include "CPeriscopeBPF.h"
#include "bpf_messages.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct psc_tcpc {
    struct bpf_object *object;
    struct bpf_link *track;
    struct bpf_link *seed;
    struct bpf_link *read;
    struct psc_tcp_counters_out *out;  /* the object's .bss, mapped shared with the kernel */
    size_t out_size;
};

static struct bpf_link *attach_iter(struct bpf_object *object, const char *name, int map_fd) {
    struct bpf_program *prog = bpf_object__find_program_by_name(object, name);
    if (!prog) { errno = ENOENT; return NULL; }
    if (map_fd < 0) return bpf_program__attach_iter(prog, NULL);
    union bpf_iter_link_info info = {0};
    info.map.map_fd = (uint32_t)map_fd;
    LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof info);
    return bpf_program__attach_iter(prog, &opts);
}

psc_tcpc *psc_tcpc_open(const void *object, size_t size, char *error, size_t error_size) {
    psc_bpf_messages_begin(error, error_size);
    psc_tcpc *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "periscope_tcpc");
    h->object = bpf_object__open_mem(object, size, &opts);
    int err = h->object ? 0 : -errno;
    if (!err) err = bpf_object__load(h->object);
    /* The tracepoint first: a socket that connects while the seed runs is tracked by one or the other. */
    if (!err) {
        struct bpf_program *track = bpf_object__find_program_by_name(h->object, "psc_track");
        h->track = track ? bpf_program__attach(track) : NULL;
        if (!h->track) err = -(errno ? errno : ENOENT);
    }
    if (!err && !(h->seed = attach_iter(h->object, "psc_seed", -1))) err = -errno;
    if (!err) {
        int map_fd = bpf_object__find_map_fd_by_name(h->object, "psc_tracked");
        if (map_fd < 0) err = map_fd;
        else if (!(h->read = attach_iter(h->object, "psc_read", map_fd))) err = -errno;
    }
    if (!err) {
        /* libbpf 1.1 keeps its own copy of .bss: map the kernel's array itself to see what the program wrote. */
        struct bpf_map *bss = bpf_object__find_map_by_name(h->object, ".bss");
        size_t value_size = 0;
        if (!bss || !bpf_map__initial_value(bss, &value_size) || value_size < sizeof *h->out) err = -ENOENT;
        else {
            long page = sysconf(_SC_PAGESIZE);
            h->out_size = (value_size + (size_t)page - 1) & ~((size_t)page - 1);
            void *mapped = mmap(NULL, h->out_size, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(bss), 0);
            if (mapped == MAP_FAILED) err = -errno;
            else h->out = mapped;
        }
    }
    psc_bpf_messages_end(err, error, error_size);
    if (err) {
        psc_tcpc_close(h);
        return NULL;
    }
    return h;
}

void psc_tcpc_close(psc_tcpc *h) {
    if (!h) return;
    if (h->out) munmap(h->out, h->out_size);
    if (h->read) bpf_link__destroy(h->read);
    if (h->seed) bpf_link__destroy(h->seed);
    if (h->track) bpf_link__destroy(h->track);
    if (h->object) bpf_object__close(h->object);
    free(h);
}

/* Runs one iterator of `link` to its end (the programs write nothing to the file: a single read()). */
static int run_iter(struct bpf_link *link) {
    int fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) return -errno;
    char sink[64];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, sink, sizeof sink)) != 0) {
        if (n < 0 && errno != EINTR) { rc = -errno; break; }
    }
    close(fd);
    return rc;
}

int psc_tcpc_seed(psc_tcpc *h) { return run_iter(h->seed); }

struct seed_args { psc_tcpc *h; int netns_fd; int result; };

static void *seed_thread(void *arg) {
    struct seed_args *args = arg;
    if (setns(args->netns_fd, CLONE_NEWNET) != 0) { args->result = -errno; return NULL; }
    args->result = run_iter(args->h->seed);
    return NULL;
}

int psc_tcpc_seed_in_netns(psc_tcpc *h, int netns_fd) {
    struct seed_args args = { h, netns_fd, -EINVAL };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, seed_thread, &args);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    return args.result;
}

int psc_tcpc_read(psc_tcpc *h, const struct psc_tcp_counters **records) {
    __atomic_store_n(&h->out->count, 0, __ATOMIC_RELAXED);
    int rc = run_iter(h->read);
    if (rc < 0) return rc;
    uint32_t count = __atomic_load_n(&h->out->count, __ATOMIC_ACQUIRE);
    if (count > PSC_TCP_COUNTERS_MAX) return -ENOSPC;
    *records = h->out->records;
    return (int)count;
}

int psc_tcpc_track_stats(const psc_tcpc *h, uint64_t *run_time_ns, uint64_t *run_count) {
    struct bpf_program *track = bpf_object__find_program_by_name(h->object, "psc_track");
    if (!track) return -ENOENT;
    struct bpf_prog_info info;
    uint32_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(track), &info, &len) != 0) return -errno;
    *run_time_ns = info.run_time_ns;
    *run_count = info.run_cnt;
    return 0;
}
