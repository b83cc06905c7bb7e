/* See bpf_messages.h. */
#define _GNU_SOURCE
#include "bpf_messages.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

/* libbpf reports through one process-wide print callback: keep the last warning of the thread that loads. */
static __thread char *last_message;
static __thread size_t last_message_size;

static int capture(enum libbpf_print_level level, const char *format, va_list args) {
    if (level == LIBBPF_DEBUG || !last_message || last_message_size == 0) return 0;
    char line[512];
    int n = vsnprintf(line, sizeof line, format, args);
    if (n <= 0) return 0;
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;  /* vsnprintf returns the untruncated length */
    /* The verifier log ends with the useful lines; keep the last non-empty one that is not a log delimiter. */
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
    if (n == 0 || strstr(line, "-- END PROG LOAD LOG --") || strstr(line, "-- BEGIN PROG LOAD LOG --")) return 0;
    snprintf(last_message, last_message_size, "%s", line);
    return 0;
}

static pthread_once_t print_once = PTHREAD_ONCE_INIT;
static void install_print(void) { libbpf_set_print(capture); }

void psc_bpf_messages_begin(char *error, size_t error_size) {
    pthread_once(&print_once, install_print);
    last_message = error;
    last_message_size = error_size;
    if (error && error_size) error[0] = 0;
}

void psc_bpf_messages_end(int err, char *error, size_t error_size) {
    last_message = NULL;
    if (!err || !error || !error_size) return;
    char detail[512];
    snprintf(detail, sizeof detail, "%s", error);
    if (detail[0]) snprintf(error, error_size, "%s (%s)", strerror(err < 0 ? -err : err), detail);
    else snprintf(error, error_size, "%s", strerror(err < 0 ? -err : err));
}
