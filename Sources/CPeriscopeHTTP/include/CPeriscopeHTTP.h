#ifndef PERISCOPE_CHTTP_H
#define PERISCOPE_CHTTP_H

// libevent's HTTP server (evhttp, in libevent_extra) behind plain C types, for `periscope ui`. Only
// compiler-builtin headers are included here, for the reason given in Sources/CLibevent/shim.h; http.c
// includes the real <event2/http.h>, so every call is checked when the target compiles (and by
// scripts/check-libevent-shim.sh with -Werror). Event bases cross this boundary as `void *`: the same
// `struct event_base *` that CLibevent declares.

#include <stddef.h>

struct evhttp;
struct evhttp_request;
struct evhttp_connection;

typedef void (*periscope_http_handler)(struct evhttp_request *request, void *context);
typedef void (*periscope_http_close_handler)(struct evhttp_connection *connection, void *context);

/// A server bound to `address:port` (port 0: any) on `base`; every request goes to `handler`. Only GET, HEAD and
/// POST are accepted (libevent answers others with 405); bodies above `max_body` bytes get 413. NULL on failure
/// with a message in `error`; the bound port in `*bound_port`.
struct evhttp *periscope_http_new(void *base, const char *address, int port, size_t max_body,
                                  periscope_http_handler handler, void *context, int *bound_port,
                                  char *error, size_t error_len);
void periscope_http_free(struct evhttp *http);

/// 1 GET, 2 POST, 4 HEAD (libevent's EVHTTP_REQ_* values), 0 otherwise.
int periscope_http_method(struct evhttp_request *request);
/// The decoded-later path and raw query of the request URI ("" when absent). Valid while the request lives.
const char *periscope_http_path(struct evhttp_request *request);
const char *periscope_http_query(struct evhttp_request *request);
/// A request header (case-insensitive name), or NULL.
const char *periscope_http_header(struct evhttp_request *request, const char *name);
/// The request body's length, and a copy of up to `capacity` bytes of it.
size_t periscope_http_body_length(struct evhttp_request *request);
size_t periscope_http_body_copy(struct evhttp_request *request, unsigned char *out, size_t capacity);
/// Adds a response header (before the reply starts).
void periscope_http_add_header(struct evhttp_request *request, const char *name, const char *value);
/// A complete reply with `body`. The request is freed by libevent afterwards.
void periscope_http_reply(struct evhttp_request *request, int code, const char *reason, const void *body, size_t length);

/// A streamed reply (chunked): start, any number of chunks, end. After the client has gone (the close handler
/// ran), chunks are dropped and `end` only frees the request.
void periscope_http_stream_start(struct evhttp_request *request, int code, const char *reason);
void periscope_http_stream_chunk(struct evhttp_request *request, const void *data, size_t length);
void periscope_http_stream_end(struct evhttp_request *request);
/// Bytes of the stream's connection still waiting to be sent (0 once the client has gone).
size_t periscope_http_stream_pending(struct evhttp_request *request);
/// Calls `handler` once when the request's connection closes. 0 when the request has no connection any more.
int periscope_http_on_close(struct evhttp_request *request, periscope_http_close_handler handler, void *context);

#endif
