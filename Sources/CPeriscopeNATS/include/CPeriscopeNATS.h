#ifndef PERISCOPE_CNATS_H
#define PERISCOPE_CNATS_H

// The report bus (issue 15): a NATS connection on the daemon's own libevent loop (the client's libevent adapter,
// nats/adapters/libevent.h), a JetStream stream of host reports, asynchronous publishing with acknowledgements
// counted, and an ordered consumer of every host's reports. Only compiler-builtin headers are included here, for
// the reason given in Sources/CLibevent/shim.h; bus.c includes the real <nats/nats.h>.
//
// Threads: the connection's socket is served by the loop that owns `event_base`; connecting, creating the stream
// and subscribing are blocking JetStream requests and must NOT run on that loop thread (the reply would never be
// read). Callbacks run on the client's own threads.

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct periscope_bus periscope_bus;

/// Connection events: 1 connected, 2 disconnected, 3 reconnected, 4 closed, 5 error (text in `detail`), 6 refused:
/// the servers refused the login (text in `detail`); the client gave up and waits for ``periscope_bus_reopen``.
typedef void (*periscope_bus_event_cb)(void *context, int event, const char *detail);
/// One stored message: its subject, payload, stream sequence, messages still pending for the consumer, and the
/// time JetStream stored it (ns since the epoch). `revision`, `base` and `refresh_ms` come from the message
/// headers (-1 when absent; a `base` marks a delta). Runs on the subscription's delivery thread, one message at a
/// time, in stream order.
typedef void (*periscope_bus_message_cb)(void *context, const char *subject, const uint8_t *data, int length,
                                         uint64_t sequence, uint64_t pending, int64_t stored_ns,
                                         int64_t revision, int64_t base, int64_t refresh_ms);

typedef struct periscope_bus_options {
    const char *urls;           // comma-separated nats:// or tls:// URLs
    const char *name;           // connection name the servers show
    const char *creds_file;     // NATS .creds (user JWT + nkey seed), or NULL
    const char *token;          // token, or NULL
    const char *tls_ca;         // PEM CA file: verify the servers (implies TLS), or NULL
    const char *tls_cert;       // PEM client certificate (with tls_key), or NULL
    const char *tls_key;
    void *event_base;           // the daemon's struct event_base
    int reconnect_wait_ms;
    int max_pending_publishes;  // publishes in flight (unacknowledged) before periscope_bus_publish skips
} periscope_bus_options;

/// A connection that keeps retrying in the background when no server answers yet. When the servers refuse the
/// login, a bus without a connection (event 6 says why; ``periscope_bus_reopen`` tries again). NULL with a message
/// on failure (bad options, unreadable files, a TLS handshake refused). Blocking: not on the loop thread.
periscope_bus *periscope_bus_connect(const periscope_bus_options *options, periscope_bus_event_cb on_event,
                                     void *context, char *error, size_t error_len);

/// Connects again with the same options (a credentials file is read again) after the servers refused the login
/// (event 6), replacing the closed connection and its subscription. 0 connected (or retrying in the background:
/// no server answered), 1 refused again, -1 another error (message in `error`). Blocking: not on the loop thread.
int periscope_bus_reopen(periscope_bus *bus, char *error, size_t error_len);

/// Creates the stream `stream` over `subjects` if it does not exist (file storage, discard old, `replicas`,
/// `max_age_ms` (0: none), `max_per_subject` (0: none)). An existing stream is left as it is. 0 on success, with
/// the retention of the stream as it is in `*kept_per_subject` (0: no limit) and `*kept_ms` (0: no limit).
/// Blocking: not on the loop thread.
int periscope_bus_ensure_stream(periscope_bus *bus, const char *stream, const char *subjects, int replicas,
                                int64_t max_age_ms, int64_t max_per_subject, int64_t *kept_per_subject,
                                int64_t *kept_ms, char *error, size_t error_len);

/// Subscribes a consumer (ephemeral, `replicas` copies, no acknowledgements) to `filter` in `stream`: every
/// message the stream holds, then every new one; with `start_sequence` > 0 from that sequence instead (a
/// resumed consumer). Replaces an earlier subscription. 0 on success. Blocking: not on the loop thread.
int periscope_bus_subscribe(periscope_bus *bus, const char *stream, const char *filter, uint64_t start_sequence,
                            int replicas, periscope_bus_message_cb on_message, void *context, char *error, size_t error_len);

/// Publishes `data` to `subject` with the revision and refresh headers (and, for a delta, `base` >= 0, the base
/// header), asynchronously (JetStream acknowledges later). 0 sent, 1 skipped (not connected, or too many
/// publishes unacknowledged), -1 error (message in `error`). Any thread; never blocks.
int periscope_bus_publish(periscope_bus *bus, const char *subject, const uint8_t *data, int length,
                          int64_t revision, int64_t base, int64_t refresh_ms, char *error, size_t error_len);

typedef struct periscope_bus_stats {
    int status;                 // 1 connected, 2 connecting, 3 reconnecting, 0 closed, 4 draining
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes, reconnects;
    uint64_t acked, publish_errors, in_flight;
    char server[128];           // URL of the server connected to ("" when none)
} periscope_bus_stats;

/// Everything in `stats`. Takes the client's connection lock, which its threads may hold while they reconnect:
/// call it off the event loop.
void periscope_bus_get_stats(periscope_bus *bus, periscope_bus_stats *stats);

/// Only `acked`, `publish_errors` and `in_flight` (the rest zeroed): lock-free, any thread (the event loop too).
void periscope_bus_get_counters(periscope_bus *bus, periscope_bus_stats *stats);

/// Closes the connection and frees the bus: call on the loop thread before the loop's base is freed.
void periscope_bus_close(periscope_bus *bus);

#endif
