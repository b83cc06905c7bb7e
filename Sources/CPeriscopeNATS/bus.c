// The report bus behind CPeriscopeNATS.h: libnats with its libevent adapter on the daemon's loop.
#include "CPeriscopeNATS.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
// The adapter defines its functions in the header: it is included in this one translation unit only.
#include <nats/adapters/libevent.h>

struct periscope_bus {
    pthread_rwlock_t conn_lock;  // guards nc and js: replaced by reopen (write), used by everything else (read)
    natsConnection *nc;          // NULL while the servers refuse the login (until a reopen is let in)
    jsCtx *js;
    natsOptions *opts;           // kept for reopen; only on the setup thread (connect, reopen) and close
    natsSubscription *sub;
    periscope_bus_event_cb on_event;
    void *event_context;
    periscope_bus_message_cb on_message;
    void *message_context;
    pthread_mutex_t lock;        // guards sub (replaced by subscribe, read by close)
    atomic_uint_fast64_t acked, publish_errors;
    atomic_int_fast64_t in_flight;
    atomic_int_fast64_t oldest_unacked_ms;  // monotonic ms of the first publish since in_flight was last 0
    int max_in_flight;
    char connect_error[300];     // why the first attempt failed ("" when it did not): kept for a closed connection
};

static bool is_refusal(natsStatus status) {
    return status == NATS_CONNECTION_AUTH_FAILED || status == NATS_NOT_PERMITTED;
}

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void last_error_detail(natsConnection *nc, char *buffer, size_t len);
static natsStatus open_connection(periscope_bus *bus, natsConnection **out, jsCtx **js_out, bool *refused);

static void set_error(char *error, size_t len, const char *what, natsStatus status, const char *detail) {
    if (error == NULL || len == 0) return;
    const char *last = NULL;
    if (detail == NULL) {
        natsStatus lastStatus = NATS_OK;
        last = nats_GetLastError(&lastStatus);
    }
    snprintf(error, len, "%s: %s%s%s", what, natsStatus_GetText(status),
             (detail || last) ? ": " : "", detail ? detail : (last ? last : ""));
}

/// Like set_error, but when the connection itself is closed says why (an authorization violation, say).
static void set_bus_error(periscope_bus *bus, char *error, size_t len, const char *what, natsStatus status) {
    if (bus->nc == NULL) {
        snprintf(error, len, "%s: not connected: %s", what, bus->connect_error);
        return;
    }
    if (natsConnection_Status(bus->nc) == NATS_CONN_STATUS_CLOSED) {
        char detail[256];
        last_error_detail(bus->nc, detail, sizeof detail);
        snprintf(error, len, "%s: connection closed: %s", what, bus->connect_error[0] ? bus->connect_error : detail);
        return;
    }
    set_error(error, len, what, status, NULL);
}

static void event_cb(periscope_bus *bus, int event, const char *detail) {
    if (bus->on_event) bus->on_event(bus->event_context, event, detail);
}

static void last_error_detail(natsConnection *nc, char *buffer, size_t len) {
    const char *text = NULL;
    natsStatus status = natsConnection_GetLastError(nc, &text);
    if (status == NATS_OK) { buffer[0] = 0; return; }
    snprintf(buffer, len, "%s%s%s", natsStatus_GetText(status), text ? ": " : "", text ? text : "");
}

static void on_connected(natsConnection *nc, void *closure) {
    (void)nc;
    event_cb(closure, 1, NULL);
}
static void on_disconnected(natsConnection *nc, void *closure) {
    char detail[256];
    last_error_detail(nc, detail, sizeof detail);
    event_cb(closure, 2, detail[0] ? detail : NULL);
}
static void on_reconnected(natsConnection *nc, void *closure) {
    (void)nc;
    event_cb(closure, 3, NULL);
}
static void on_closed(natsConnection *nc, void *closure) {
    periscope_bus *bus = closure;
    // The client gives a server up after it refused the login twice; a connection already replaced says nothing.
    pthread_rwlock_rdlock(&bus->conn_lock);
    bool current = bus->nc == NULL || bus->nc == nc;
    pthread_rwlock_unlock(&bus->conn_lock);
    if (!current) return;
    const char *text = NULL;
    natsStatus status = natsConnection_GetLastError(nc, &text);
    if (is_refusal(status)) {
        char detail[300];
        snprintf(detail, sizeof detail, "refused: %s%s%s", natsStatus_GetText(status), text ? ": " : "", text ? text : "");
        event_cb(bus, 6, detail);
    } else {
        event_cb(bus, 4, NULL);
    }
}
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
    (void)nc; (void)sub;
    event_cb(closure, 5, natsStatus_GetText(err));
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    periscope_bus *bus = closure;
    if (pa != NULL) {
        atomic_fetch_add(&bus->acked, 1);
    } else {
        atomic_fetch_add(&bus->publish_errors, 1);
        char detail[256];
        snprintf(detail, sizeof detail, "publish not acknowledged: %s%s%s", natsStatus_GetText(pae ? pae->Err : NATS_ERR),
                 (pae && pae->ErrText) ? ": " : "", (pae && pae->ErrText) ? pae->ErrText : "");
        event_cb(bus, 5, detail);
    }
    if (atomic_fetch_sub(&bus->in_flight, 1) <= 1) atomic_store(&bus->oldest_unacked_ms, 0);
    natsMsg_Destroy(msg);
}

periscope_bus *periscope_bus_connect(const periscope_bus_options *options, periscope_bus_event_cb on_event,
                                     void *context, char *error, size_t error_len) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, natsLibevent_Init);
    periscope_bus *bus = calloc(1, sizeof *bus);
    if (bus == NULL) { set_error(error, error_len, "bus", NATS_NO_MEMORY, ""); return NULL; }
    pthread_mutex_init(&bus->lock, NULL);
    bus->on_event = on_event;
    bus->event_context = context;
    bus->max_in_flight = options->max_pending_publishes > 0 ? options->max_pending_publishes : 16;

    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetServers(opts, NULL, 0);
    // SetServers takes an array: split the comma-separated list.
    char *copy = strdup(options->urls ? options->urls : "");
    const char *servers[64];
    int count = 0;
    for (char *save = NULL, *token = strtok_r(copy, ",", &save); token && count < 64; token = strtok_r(NULL, ",", &save)) {
        while (*token == ' ') token++;
        if (*token) servers[count++] = token;
    }
    if (s == NATS_OK) s = count ? natsOptions_SetServers(opts, servers, count) : NATS_INVALID_ARG;
    if (s == NATS_OK && options->name) s = natsOptions_SetName(opts, options->name);
    if (s == NATS_OK && options->creds_file) s = natsOptions_SetUserCredentialsFromFiles(opts, options->creds_file, NULL);
    if (s == NATS_OK && options->token) s = natsOptions_SetToken(opts, options->token);
    if (s == NATS_OK && (options->tls_ca || options->tls_cert)) s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && options->tls_ca) s = natsOptions_LoadCATrustedCertificates(opts, options->tls_ca);
    if (s == NATS_OK && options->tls_cert) s = natsOptions_LoadCertificatesChain(opts, options->tls_cert, options->tls_key);
    if (s == NATS_OK) s = natsOptions_SetEventLoop(opts, options->event_base, natsLibevent_Attach, natsLibevent_Read,
                                                   natsLibevent_Write, natsLibevent_Detach);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, options->reconnect_wait_ms > 0 ? options->reconnect_wait_ms : 500);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, bus);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, bus);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, bus);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, on_error, bus);
    if (s != NATS_OK) {
        set_error(error, error_len, "bus options", s, NULL);
        free(copy);
        natsOptions_Destroy(opts);
        pthread_mutex_destroy(&bus->lock);
        free(bus);
        return NULL;
    }
    free(copy);
    bus->opts = opts;
    pthread_rwlock_init(&bus->conn_lock, NULL);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    bool refused = false;
    s = open_connection(bus, &nc, &js, &refused);
    if (s != NATS_OK && !refused) {
        set_error(error, error_len, "connect", s, NULL);
        natsOptions_Destroy(opts);
        pthread_rwlock_destroy(&bus->conn_lock);
        pthread_mutex_destroy(&bus->lock);
        free(bus);
        return NULL;
    }
    bus->nc = nc;
    bus->js = js;
    if (refused) event_cb(bus, 6, bus->connect_error);
    return bus;
}

/// A connection with the kept options: first a plain attempt, so that a refusal (authorization, TLS) is reported
/// as such (`*refused` for an authorization refusal: nothing opened, the caller tries again later); otherwise one
/// that keeps retrying in the background when no server answers yet. Setup thread.
static natsStatus open_connection(periscope_bus *bus, natsConnection **out, jsCtx **js_out, bool *refused) {
    natsConnection *nc = NULL;
    *refused = false;
    natsStatus s = natsOptions_SetRetryOnFailedConnect(bus->opts, false, NULL, NULL);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, bus->opts);
    if (s == NATS_OK) {
        bus->connect_error[0] = 0;
        event_cb(bus, 1, NULL);
    } else {
        set_error(bus->connect_error, sizeof bus->connect_error, is_refusal(s) ? "refused" : "connect", s, NULL);
        nc = NULL;
        if (is_refusal(s)) {
            *refused = true;
            return s;
        }
        event_cb(bus, 5, bus->connect_error);
        s = natsOptions_SetRetryOnFailedConnect(bus->opts, true, on_connected, bus);
        if (s == NATS_OK) s = natsConnection_Connect(&nc, bus->opts);
        if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
    }
    jsCtx *js = NULL;
    if (s == NATS_OK) {
        jsOptions jso;
        jsOptions_Init(&jso);
        jso.Wait = 5000;
        jso.PublishAsync.MaxPending = bus->max_in_flight * 4;  // never reached: periscope_bus_publish skips first
        jso.PublishAsync.AckHandler = on_ack;
        jso.PublishAsync.AckHandlerClosure = bus;
        jso.PublishAsync.StallWait = 1;
        s = natsConnection_JetStream(&js, nc, &jso);
    }
    if (s != NATS_OK) {
        if (nc) natsConnection_Destroy(nc);
        return s;
    }
    *out = nc;
    *js_out = js;
    return NATS_OK;
}

int periscope_bus_reopen(periscope_bus *bus, char *error, size_t error_len) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    bool refused = false;
    natsStatus s = open_connection(bus, &nc, &js, &refused);
    if (s != NATS_OK) {
        snprintf(error, error_len, "%s", bus->connect_error[0] ? bus->connect_error : natsStatus_GetText(s));
        return refused ? 1 : -1;
    }
    pthread_mutex_lock(&bus->lock);
    natsSubscription *sub = bus->sub;
    bus->sub = NULL;
    pthread_mutex_unlock(&bus->lock);
    pthread_rwlock_wrlock(&bus->conn_lock);
    natsConnection *old = bus->nc;
    jsCtx *oldJs = bus->js;
    bus->nc = nc;
    bus->js = js;
    atomic_store(&bus->in_flight, 0);
    atomic_store(&bus->oldest_unacked_ms, 0);
    pthread_rwlock_unlock(&bus->conn_lock);
    if (sub) natsSubscription_Destroy(sub);
    if (oldJs) jsCtx_Destroy(oldJs);
    if (old) natsConnection_Destroy(old);
    return 0;
}

static void retention(const jsStreamInfo *info, int64_t *kept_per_subject, int64_t *kept_ms) {
    int64_t per_subject = info && info->Config ? info->Config->MaxMsgsPerSubject : 0;
    int64_t age_ns = info && info->Config ? info->Config->MaxAge : 0;
    if (kept_per_subject) *kept_per_subject = per_subject > 0 ? per_subject : 0;
    if (kept_ms) *kept_ms = age_ns > 0 ? age_ns / 1000000 : 0;
}

static int ensure_stream(periscope_bus *bus, const char *stream, const char *subjects, int replicas,
                                int64_t max_age_ms, int64_t max_per_subject, int64_t *kept_per_subject,
                                int64_t *kept_ms, char *error, size_t error_len) {
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    natsStatus s = js_GetStreamInfo(&info, bus->js, stream, NULL, &code);
    if (s == NATS_OK) {
        retention(info, kept_per_subject, kept_ms);
        jsStreamInfo_Destroy(info);
        return 0;
    }
    if (s != NATS_NOT_FOUND) {
        set_bus_error(bus, error, error_len, "stream info", s);
        return -1;
    }
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = stream;
    const char *subjectList[1] = {subjects};
    config.Subjects = subjectList;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Discard = js_DiscardOld;
    config.Replicas = replicas > 0 ? replicas : 1;
    config.MaxAge = max_age_ms * 1000000;
    config.MaxMsgsPerSubject = max_per_subject > 0 ? max_per_subject : -1;
    code = 0;
    s = js_AddStream(&info, bus->js, &config, NULL, &code);
    if (s == NATS_OK) {
        retention(info, kept_per_subject, kept_ms);
        jsStreamInfo_Destroy(info);
        return 0;
    }
    // Another daemon may have created it meanwhile (with the same or another configuration): use it as it is.
    if (code == JSStreamNameExistErr) {
        info = NULL;
        if (js_GetStreamInfo(&info, bus->js, stream, NULL, &code) != NATS_OK) info = NULL;
        retention(info, kept_per_subject, kept_ms);
        if (info) jsStreamInfo_Destroy(info);
        return 0;
    }
    set_bus_error(bus, error, error_len, "create stream", s);
    return -1;
}

static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc; (void)sub;
    periscope_bus *bus = closure;
    jsMsgMetaData *meta = NULL;
    uint64_t sequence = 0, pending = 0;
    int64_t stored = 0;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        sequence = meta->Sequence.Stream;
        pending = meta->NumPending;
        stored = meta->Timestamp;
        jsMsgMetaData_Destroy(meta);
    }
    int64_t revision = -1, base = -1, refresh = -1;
    const char *value = NULL;
    if (natsMsgHeader_Get(msg, "Periscope-Revision", &value) == NATS_OK && value) revision = strtoll(value, NULL, 10);
    value = NULL;
    if (natsMsgHeader_Get(msg, "Periscope-Base", &value) == NATS_OK && value) base = strtoll(value, NULL, 10);
    value = NULL;
    if (natsMsgHeader_Get(msg, "Periscope-Refresh-Ms", &value) == NATS_OK && value) refresh = strtoll(value, NULL, 10);
    if (bus->on_message && sequence > 0) {
        bus->on_message(bus->message_context, natsMsg_GetSubject(msg), (const uint8_t *)natsMsg_GetData(msg),
                        natsMsg_GetDataLength(msg), sequence, pending, stored, revision, base, refresh);
    }
    natsMsg_Destroy(msg);
}

static int subscribe(periscope_bus *bus, const char *stream, const char *filter, uint64_t start_sequence,
                            int replicas, periscope_bus_message_cb callback, void *context, char *error, size_t error_len) {
    bus->on_message = callback;
    bus->message_context = context;
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = stream;
    // An ephemeral push consumer, replicated like the stream so that it survives the loss of a server (an ordered
    // consumer lives on one server only); no acknowledgements (the newest report is what counts); the server goes
    // on delivering through flow control and says it is alive with heartbeats; it is dropped 60 s after we are gone.
    options.Config.AckPolicy = js_AckNone;
    options.Config.FlowControl = true;
    options.Config.Heartbeat = (int64_t)2000 * 1000000;
    options.Config.InactiveThreshold = (int64_t)60000 * 1000000;
    options.Config.Replicas = replicas > 0 ? replicas : 1;
    if (start_sequence > 0) {
        options.Config.DeliverPolicy = js_DeliverByStartSequence;
        options.Config.OptStartSeq = start_sequence;
    } else {
        // Everything held: per host its newest full report and the deltas after it (the stream keeps a few messages
        // per subject; the caller skips what a newer full report supersedes).
        options.Config.DeliverPolicy = js_DeliverAll;
    }
    natsSubscription *sub = NULL;
    jsErrCode code = 0;
    natsStatus s = js_Subscribe(&sub, bus->js, filter, on_message, bus, NULL, &options, &code);
    if (s != NATS_OK) {
        set_bus_error(bus, error, error_len, "subscribe", s);
        return -1;
    }
    natsSubscription_SetPendingLimits(sub, 4096, 512 * 1024 * 1024);
    pthread_mutex_lock(&bus->lock);
    natsSubscription *old = bus->sub;
    bus->sub = sub;
    pthread_mutex_unlock(&bus->lock);
    if (old) {
        natsSubscription_Unsubscribe(old);
        natsSubscription_Destroy(old);
    }
    return 0;
}

static int publish(periscope_bus *bus, const char *subject, const uint8_t *data, int length,
                          int64_t revision, int64_t base, int64_t refresh_ms, char *error, size_t error_len) {
    if (natsConnection_Status(bus->nc) != NATS_CONN_STATUS_CONNECTED) return 1;
    if (atomic_load(&bus->in_flight) >= bus->max_in_flight) {
        // Acknowledgements lost with a server (no reply ever comes): after 10 s give the pending ones up,
        // the next report supersedes them anyway.
        int64_t since = atomic_load(&bus->oldest_unacked_ms);
        if (since == 0 || monotonic_ms() - since < 10000) return 1;
        natsMsgList list = {0};
        if (js_PublishAsyncGetPendingList(&list, bus->js) == NATS_OK) {
            atomic_fetch_sub(&bus->in_flight, list.Count);
            atomic_fetch_add(&bus->publish_errors, (uint64_t)list.Count);
            natsMsgList_Destroy(&list);
        }
        atomic_store(&bus->oldest_unacked_ms, monotonic_ms());
    }
    natsMsg *msg = NULL;
    char text[32];
    natsStatus s = natsMsg_Create(&msg, subject, NULL, (const char *)data, length);
    snprintf(text, sizeof text, "%lld", (long long)revision);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Periscope-Revision", text);
    snprintf(text, sizeof text, "%lld", (long long)refresh_ms);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Periscope-Refresh-Ms", text);
    if (base >= 0) {
        snprintf(text, sizeof text, "%lld", (long long)base);
        if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Periscope-Base", text);
    }
    if (s == NATS_OK) {
        int_fast64_t zero = 0;
        atomic_compare_exchange_strong(&bus->oldest_unacked_ms, &zero, monotonic_ms());
        atomic_fetch_add(&bus->in_flight, 1);
        jsPubOptions options;
        jsPubOptions_Init(&options);
        options.MaxWait = 5000;
        s = js_PublishMsgAsync(bus->js, &msg, &options);
        if (s != NATS_OK) atomic_fetch_sub(&bus->in_flight, 1);
    }
    natsMsg_Destroy(msg);
    if (s != NATS_OK) {
        set_error(error, error_len, "publish", s, NULL);
        return -1;
    }
    return 0;
}

static void get_stats(periscope_bus *bus, periscope_bus_stats *out) {
    switch (natsConnection_Status(bus->nc)) {
    case NATS_CONN_STATUS_CONNECTED: out->status = 1; break;
    case NATS_CONN_STATUS_CONNECTING: out->status = 2; break;
    case NATS_CONN_STATUS_RECONNECTING: out->status = 3; break;
    case NATS_CONN_STATUS_DRAINING_SUBS:
    case NATS_CONN_STATUS_DRAINING_PUBS: out->status = 4; break;
    default: out->status = 0; break;
    }
    natsStatistics *stats = NULL;
    if (natsStatistics_Create(&stats) == NATS_OK) {
        if (natsConnection_GetStats(bus->nc, stats) == NATS_OK) {
            natsStatistics_GetCounts(stats, &out->in_msgs, &out->in_bytes, &out->out_msgs, &out->out_bytes, &out->reconnects);
        }
        natsStatistics_Destroy(stats);
    }
    periscope_bus_stats counters;
    periscope_bus_get_counters(bus, &counters);
    out->acked = counters.acked;
    out->publish_errors = counters.publish_errors;
    out->in_flight = counters.in_flight;
    if (natsConnection_GetConnectedUrl(bus->nc, out->server, sizeof out->server) != NATS_OK) out->server[0] = 0;
}

void periscope_bus_get_counters(periscope_bus *bus, periscope_bus_stats *out) {
    memset(out, 0, sizeof *out);
    out->acked = atomic_load(&bus->acked);
    out->publish_errors = atomic_load(&bus->publish_errors);
    int64_t in_flight = atomic_load(&bus->in_flight);
    out->in_flight = in_flight > 0 ? (uint64_t)in_flight : 0;
}

// The public calls: each holds the connection (read lock) while it uses it; none while the servers refuse us.

int periscope_bus_ensure_stream(periscope_bus *bus, const char *stream, const char *subjects, int replicas,
                                int64_t max_age_ms, int64_t max_per_subject, int64_t *kept_per_subject,
                                int64_t *kept_ms, char *error, size_t error_len) {
    pthread_rwlock_rdlock(&bus->conn_lock);
    int result = -1;
    if (bus->js) {
        result = ensure_stream(bus, stream, subjects, replicas, max_age_ms, max_per_subject, kept_per_subject, kept_ms,
                               error, error_len);
    } else {
        set_bus_error(bus, error, error_len, "stream info", NATS_CONNECTION_CLOSED);
    }
    pthread_rwlock_unlock(&bus->conn_lock);
    return result;
}

int periscope_bus_subscribe(periscope_bus *bus, const char *stream, const char *filter, uint64_t start_sequence,
                            int replicas, periscope_bus_message_cb callback, void *context, char *error, size_t error_len) {
    pthread_rwlock_rdlock(&bus->conn_lock);
    int result = -1;
    if (bus->js) {
        result = subscribe(bus, stream, filter, start_sequence, replicas, callback, context, error, error_len);
    } else {
        set_bus_error(bus, error, error_len, "subscribe", NATS_CONNECTION_CLOSED);
    }
    pthread_rwlock_unlock(&bus->conn_lock);
    return result;
}

int periscope_bus_publish(periscope_bus *bus, const char *subject, const uint8_t *data, int length,
                          int64_t revision, int64_t base, int64_t refresh_ms, char *error, size_t error_len) {
    pthread_rwlock_rdlock(&bus->conn_lock);
    int result = bus->nc ? publish(bus, subject, data, length, revision, base, refresh_ms, error, error_len) : 1;
    pthread_rwlock_unlock(&bus->conn_lock);
    return result;
}

void periscope_bus_get_stats(periscope_bus *bus, periscope_bus_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&bus->conn_lock);
    if (bus->nc) get_stats(bus, out);
    pthread_rwlock_unlock(&bus->conn_lock);
}

void periscope_bus_close(periscope_bus *bus) {
    pthread_mutex_lock(&bus->lock);
    natsSubscription *sub = bus->sub;
    bus->sub = NULL;
    pthread_mutex_unlock(&bus->lock);
    if (sub) natsSubscription_Destroy(sub);
    pthread_rwlock_wrlock(&bus->conn_lock);
    natsConnection *nc = bus->nc;
    jsCtx *js = bus->js;
    bus->nc = NULL;
    bus->js = NULL;
    pthread_rwlock_unlock(&bus->conn_lock);
    if (nc) natsConnection_Close(nc);
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    natsOptions_Destroy(bus->opts);
    bus->opts = NULL;
    // The bus itself stays allocated: a late callback on a client thread may still read it.
}
