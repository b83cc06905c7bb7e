/* See include/CPeriscopeBPF.h. */
#define _GNU_SOURCE
#include "CPeriscopeBPF.h"
#include "bpf_messages.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define MAX_LINKS 32

struct psc_bpf {
    struct bpf_object *object;
    struct bpf_link *links[MAX_LINKS];
    int prog_fds[MAX_LINKS];
    int link_count;
    int conns_fd;
};

/* Sets the 32-bit read-only global `name` (in .rodata) before the object is loaded; the verifier then treats
 * it as a constant. Returns 0, or -ENOENT when the object has no such variable. */
static int set_rodata_u32(struct bpf_object *object, const char *name, uint32_t value) {
    struct bpf_map *map = bpf_object__find_map_by_name(object, ".rodata");
    struct btf *btf = bpf_object__btf(object);
    if (!map || !btf) return -ENOENT;
    size_t size = 0;
    const char *data = bpf_map__initial_value(map, &size);
    int sec = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
    if (!data || sec < 0) return -ENOENT;
    const struct btf_type *type = btf__type_by_id(btf, sec);
    const struct btf_var_secinfo *var = btf_var_secinfos(type);
    for (int i = 0; i < btf_vlen(type); i++, var++) {
        const struct btf_type *v = btf__type_by_id(btf, var->type);
        if (v && strcmp(btf__name_by_offset(btf, v->name_off), name) == 0 && var->size == sizeof value
            && var->offset + sizeof value <= size) {
            /* libbpf 1.1 hands the initial value out read-only: write a copy back through its setter. */
            char *copy = malloc(size);
            if (!copy) return -ENOMEM;
            memcpy(copy, data, size);
            memcpy(copy + var->offset, &value, sizeof value);
            int rc = bpf_map__set_initial_value(map, copy, size);
            free(copy);
            return rc;
        }
    }
    return -ENOENT;
}

psc_bpf *psc_bpf_open(const void *object, size_t size, char *error, size_t error_size) {
    psc_bpf_messages_begin(error, error_size);
    psc_bpf *bpf = calloc(1, sizeof *bpf);
    if (!bpf) return NULL;
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "periscope_l7");
    bpf->object = bpf_object__open_mem(object, size, &opts);
    int err = bpf->object ? 0 : -errno;
    if (!err) err = set_rodata_u32(bpf->object, "psc_self_tgid", (uint32_t)getpid());
    if (!err) err = bpf_object__load(bpf->object);
    struct bpf_program *prog;
    if (!err) {
        bpf_object__for_each_program(prog, bpf->object) {
            if (bpf->link_count >= MAX_LINKS) break;
            struct bpf_link *link = bpf_program__attach(prog);
            if (!link) { err = -errno; break; }
            bpf->prog_fds[bpf->link_count] = bpf_program__fd(prog);
            bpf->links[bpf->link_count++] = link;
        }
    }
    if (!err) {
        bpf->conns_fd = bpf_object__find_map_fd_by_name(bpf->object, "psc_conns");
        if (bpf->conns_fd < 0) err = bpf->conns_fd;
    }
    psc_bpf_messages_end(err, error, error_size);
    if (err) {
        psc_bpf_close(bpf);
        return NULL;
    }
    return bpf;
}

void psc_bpf_close(psc_bpf *bpf) {
    if (!bpf) return;
    for (int i = 0; i < bpf->link_count; i++) bpf_link__destroy(bpf->links[i]);
    if (bpf->object) bpf_object__close(bpf->object);
    free(bpf);
}

int psc_bpf_program_count(const psc_bpf *bpf) { return bpf ? bpf->link_count : 0; }

int psc_bpf_read_conns(psc_bpf *bpf, psc_l7_entry *out, int max) {
    struct psc_l7_key key, next;
    int n = 0;
    void *previous = NULL;
    while (n < max && bpf_map_get_next_key(bpf->conns_fd, previous, &next) == 0) {
        key = next;
        previous = &key;
        out[n].key = key;
        if (bpf_map_lookup_elem(bpf->conns_fd, &key, &out[n].conn) == 0) n++;
    }
    return n;
}

int psc_bpf_delete_conn(psc_bpf *bpf, const struct psc_l7_key *key) {
    return bpf_map_delete_elem(bpf->conns_fd, key) == 0 ? 0 : -errno;
}

int psc_bpf_run_stats(const psc_bpf *bpf, uint64_t *run_time_ns, uint64_t *run_count) {
    uint64_t time = 0, count = 0;
    for (int i = 0; i < bpf->link_count; i++) {
        struct bpf_prog_info info;
        uint32_t len = sizeof info;
        memset(&info, 0, sizeof info);
        if (bpf_obj_get_info_by_fd(bpf->prog_fds[i], &info, &len) != 0) return -errno;
        time += info.run_time_ns;
        count += info.run_cnt;
    }
    *run_time_ns = time;
    *run_count = count;
    return 0;
}
