/* What one /proc scan costs in syscalls, the two ways ProcessScanner has read a process (issue 16, benchmark 3):
 *   per pass: open /proc/PID (O_PATH), fstat, openat stat, read, read, close, fstatat ns/net, fstatat fd, close
 *   kept:     fstat of the kept /proc/PID, pread of the kept stat, fstatat fd      (ProcessHandles)
 * Usage: scan ITERATIONS. Prints the process count and the CPU (CLOCK_PROCESS_CPUTIME_ID) per scan of each.
 * Written for this benchmark; run it through bench/proc-scan.sh. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PIDS = 1 << 17 };
static int pids[MAX_PIDS], dirs[MAX_PIDS], stats[MAX_PIDS];
static char buffer[65536];

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int open_dir(int pid) {
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", pid);
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int main(int argc, char **argv) {
    int iterations = argc > 1 ? atoi(argv[1]) : 100;
    if (iterations <= 0) iterations = 100;
    int count = 0;
    DIR *proc = opendir("/proc");
    if (!proc) { perror("/proc"); return 1; }
    for (struct dirent *e; (e = readdir(proc)) && count < MAX_PIDS;) {
        int pid = atoi(e->d_name);
        if (pid > 0) pids[count++] = pid;
    }
    closedir(proc);

    double start = cpu_seconds();
    for (int it = 0; it < iterations; it++) {
        for (int i = 0; i < count; i++) {
            struct stat st;
            int dir = open_dir(pids[i]);
            if (dir < 0) continue;
            fstat(dir, &st);
            int fd = openat(dir, "stat", O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                while (read(fd, buffer, sizeof buffer) > 0) {}
                close(fd);
            }
            fstatat(dir, "ns/net", &st, 0);
            fstatat(dir, "fd", &st, 0);
            close(dir);
        }
    }
    double perPass = (cpu_seconds() - start) * 1000 / iterations;

    for (int i = 0; i < count; i++) {
        dirs[i] = open_dir(pids[i]);
        stats[i] = dirs[i] >= 0 ? openat(dirs[i], "stat", O_RDONLY | O_CLOEXEC) : -1;
    }
    start = cpu_seconds();
    for (int it = 0; it < iterations; it++) {
        for (int i = 0; i < count; i++) {
            struct stat st;
            if (dirs[i] < 0 || stats[i] < 0) continue;
            fstat(dirs[i], &st);
            if (pread(stats[i], buffer, sizeof buffer, 0) < 0) continue;
            fstatat(dirs[i], "fd", &st, 0);
        }
    }
    double kept = (cpu_seconds() - start) * 1000 / iterations;
    printf("%d processes: opened per pass %.2f ms per scan, kept descriptors %.2f ms per scan (%.2fx)\n",
           count, perPass, kept, kept > 0 ? perPass / kept : 0);
    return 0;
}
