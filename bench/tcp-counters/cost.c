/*
 * Benchmark only (bench/tcp-counters.sh): CPU (user+sys, getrusage) of one counters read of the host namespace's
 * connected TCP sockets, three ways, alternated in one loop: two sock_diag dumps with INET_DIAG_INFO (what the
 * daemon did), a plain TCP iterator (tcp_iter.bpf.c), and the daemon's BPF source (bpf/tcp_counters.bpf.c through
 * Sources/CPeriscopeBPF/tcp_counters.c). Usage: cost TCP_ITER_OBJECT TCP_COUNTERS_OBJECT ROUNDS
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "CPeriscopeBPF.h"
#include "CPeriscopeLinux.h"

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    void *data = malloc(*size);
    if (fread(data, 1, *size, f) != *size) { perror(path); exit(1); }
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: cost TCP_ITER_OBJECT TCP_COUNTERS_OBJECT ROUNDS\n"); return 2; }
    int rounds = atoi(argv[3]);
    struct bpf_object *plain = bpf_object__open_file(argv[1], NULL);
    if (!plain || bpf_object__load(plain)) { perror("loading the plain iterator"); return 1; }
    struct bpf_link *iter = bpf_program__attach_iter(bpf_object__find_program_by_name(plain, "psc_tcp_counters"), NULL);
    if (!iter) { perror("attaching the plain iterator"); return 1; }
    size_t size;
    void *object = slurp(argv[2], &size);
    char error[512];
    double t0 = cpu();
    psc_tcpc *tracked = psc_tcpc_open(object, size, error, sizeof error);
    if (!tracked) { fprintf(stderr, "loading tcp_counters: %s\n", error); return 1; }
    double t1 = cpu();
    if (psc_tcpc_seed(tracked) != 0) { perror("seed"); return 1; }
    printf("tcp_counters: load %.1f ms, seed %.1f ms\n", (t1 - t0) * 1000, (cpu() - t1) * 1000);
    int diag = psc_netlink_open(PSC_NETLINK_SOCK_DIAG);
    uint32_t connected = PSC_ALL_STATES & ~(1u << 6) & ~(1u << 7) & ~(1u << 10);
    size_t cap = 16 << 20;
    char *buf = malloc(cap);
    double cost[3] = {0};
    long seen[3] = {0};
    for (int i = 0; i < rounds; i++) {
        double a = cpu();
        psc_sock_list list = {0};
        psc_sockdiag_dump(diag, AF_INET, IPPROTO_TCP, connected, 1, &list);
        psc_sockdiag_dump(diag, AF_INET6, IPPROTO_TCP, connected, 1, &list);
        seen[0] = (long)list.count;
        psc_sock_list_free(&list);
        double b = cpu();
        int fd = bpf_iter_create(bpf_link__fd(iter));
        size_t len = 0;
        ssize_t n;
        while ((n = read(fd, buf + len, cap - len)) > 0) len += (size_t)n;
        close(fd);
        seen[1] = (long)(len / 40);
        double c = cpu();
        const struct psc_tcp_counters *records;
        seen[2] = psc_tcpc_read(tracked, &records);
        double d = cpu();
        cost[0] += b - a;
        cost[1] += c - b;
        cost[2] += d - c;
    }
    const char *names[3] = {"sock_diag (2 dumps)", "iter/tcp", "tcp_counters (tracked)"};
    for (int k = 0; k < 3; k++)
        printf("%-24s %6ld sockets  %6.2f ms/read  %.2fx cheaper than sock_diag\n", names[k], seen[k],
               cost[k] * 1000 / rounds, cost[0] / cost[k]);
    psc_tcpc_close(tracked);
    return 0;
}
