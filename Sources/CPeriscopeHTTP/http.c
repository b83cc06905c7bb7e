// libevent's HTTP server for `periscope ui`: see include/CPeriscopeHTTP.h.
#include "CPeriscopeHTTP.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

struct evhttp *periscope_http_new(void *base, const char *address, int port, size_t max_body,
                                  periscope_http_handler handler, void *context, int *bound_port,
                                  char *error, size_t error_len) {
    struct evhttp *http = evhttp_new((struct event_base *)base);
    if (!http) {
        snprintf(error, error_len, "evhttp_new failed");
        return NULL;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_timeout(http, 30);
    evhttp_set_gencb(http, handler, context);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, address, (ev_uint16_t)port);
    if (!bound) {
        snprintf(error, error_len, "cannot listen on %s:%d (address in use, or not an address of this host)", address, port);
        evhttp_free(http);
        return NULL;
    }
    int fd = evhttp_bound_socket_get_fd(bound);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    *bound_port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return http;
}

void periscope_http_free(struct evhttp *http) { evhttp_free(http); }

int periscope_http_method(struct evhttp_request *request) {
    switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET: return 1;
    case EVHTTP_REQ_POST: return 2;
    case EVHTTP_REQ_HEAD: return 4;
    default: return 0;
    }
}

const char *periscope_http_path(struct evhttp_request *request) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(request);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    return path ? path : "";
}

const char *periscope_http_query(struct evhttp_request *request) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(request);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    return query ? query : "";
}

const char *periscope_http_header(struct evhttp_request *request, const char *name) {
    return evhttp_find_header(evhttp_request_get_input_headers(request), name);
}

size_t periscope_http_body_length(struct evhttp_request *request) {
    return evbuffer_get_length(evhttp_request_get_input_buffer(request));
}

size_t periscope_http_body_copy(struct evhttp_request *request, unsigned char *out, size_t capacity) {
    ev_ssize_t n = evbuffer_copyout(evhttp_request_get_input_buffer(request), out, capacity);
    return n < 0 ? 0 : (size_t)n;
}

void periscope_http_add_header(struct evhttp_request *request, const char *name, const char *value) {
    evhttp_add_header(evhttp_request_get_output_headers(request), name, value);
}

void periscope_http_reply(struct evhttp_request *request, int code, const char *reason, const void *body, size_t length) {
    struct evbuffer *buffer = evbuffer_new();
    if (buffer && length) evbuffer_add(buffer, body, length);
    evhttp_send_reply(request, code, reason, buffer);
    if (buffer) evbuffer_free(buffer);
}

// A stream stays open for as long as the page does: no read timeout (the client sends nothing after its
// request), a write timeout so a client that stops reading is dropped.
static void stream_timeouts(struct evhttp_request *request) {
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    if (!connection) return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(connection);
    if (!bev) return;
    struct timeval write_timeout = {30, 0};
    bufferevent_set_timeouts(bev, NULL, &write_timeout);
}

void periscope_http_stream_start(struct evhttp_request *request, int code, const char *reason) {
    evhttp_send_reply_start(request, code, reason);
    stream_timeouts(request);
}

void periscope_http_stream_chunk(struct evhttp_request *request, const void *data, size_t length) {
    if (!evhttp_request_get_connection(request) || !length) return;
    struct evbuffer *buffer = evbuffer_new();
    if (!buffer) return;
    evbuffer_add(buffer, data, length);
    evhttp_send_reply_chunk(request, buffer);
    evbuffer_free(buffer);
    stream_timeouts(request);
}

void periscope_http_stream_end(struct evhttp_request *request) { evhttp_send_reply_end(request); }

size_t periscope_http_stream_pending(struct evhttp_request *request) {
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    if (!connection) return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(connection);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

int periscope_http_on_close(struct evhttp_request *request, periscope_http_close_handler handler, void *context) {
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    if (!connection) return 0;
    evhttp_connection_set_closecb(connection, handler, context);
    return 1;
}
