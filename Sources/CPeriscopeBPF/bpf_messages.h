/*
 * libbpf's messages while an object loads, kept for the error sentence the daemon reports (private to this module).
 */
#ifndef CPERISCOPE_BPF_MESSAGES_H
#define CPERISCOPE_BPF_MESSAGES_H

#include <stddef.h>

/* Starts keeping libbpf's last warning of the calling thread in `error` (cleared). */
void psc_bpf_messages_begin(char *error, size_t error_size);

/* Stops keeping them; when `err` (-errno) is non-zero, `error` becomes "strerror (last warning)". */
void psc_bpf_messages_end(int err, char *error, size_t error_size);

#endif
