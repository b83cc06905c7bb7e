#ifndef PERISCOPE_CLIBEVENT_SHIM_H
#define PERISCOPE_CLIBEVENT_SHIM_H

// The subset of libevent 2.1's API that PeriscopeEventLoop uses, declared here rather than through
// <event2/*.h>. Those headers pull in glibc's <sys/select.h>, and Swift then sees `fd_set` defined
// in two Clang modules (SwiftGlibc and this one), which intermittently fails fresh builds
// ("__fds_bits ... is not present in definition of 'fd_set'"). Only compiler-builtin headers are
// included. The prototypes are checked against the real headers by scripts/check-libevent-shim.sh.
// Linking still goes through pkg-config (libevent_pthreads) as declared in Package.swift.

#include <stddef.h>

struct event_base;
struct event_config;
struct event;
struct bufferevent;
struct evbuffer;
struct evconnlistener;
struct sockaddr;
struct timeval;

typedef int periscope_socket_t;  // libevent: #define evutil_socket_t int
typedef void (*event_callback_fn)(periscope_socket_t, short, void *);
typedef void (*evconnlistener_cb)(struct evconnlistener *, periscope_socket_t, struct sockaddr *, int socklen, void *);
typedef void (*evconnlistener_errorcb)(struct evconnlistener *, void *);
typedef void (*bufferevent_data_cb)(struct bufferevent *bev, void *ctx);
typedef void (*bufferevent_event_cb)(struct bufferevent *bev, short what, void *ctx);

#define EV_TIMEOUT 0x01
#define EV_READ 0x02
#define EV_WRITE 0x04
#define EV_SIGNAL 0x08
#define EV_PERSIST 0x10
#define LEV_OPT_CLOSE_ON_FREE (1u << 1)
#define LEV_OPT_CLOSE_ON_EXEC (1u << 2)
#define BEV_OPT_CLOSE_ON_FREE 0x01
#define BEV_EVENT_EOF 0x10
#define BEV_EVENT_ERROR 0x20

// libevent's enum event_base_config_flag: time timers with the precise monotonic clock (and a timerfd with
// epoll) rather than CLOCK_MONOTONIC_COARSE, whose lag woke the loop early and then again for each timer.
#define PERISCOPE_EVENT_BASE_FLAG_PRECISE_TIMER 0x20

int evthread_use_pthreads(void);
struct event_base *event_base_new(void);
struct event_config *event_config_new(void);
void event_config_free(struct event_config *cfg);
int event_config_set_flag(struct event_config *cfg, int flag);
struct event_base *event_base_new_with_config(const struct event_config *);
void event_base_free(struct event_base *);
const char *event_base_get_method(const struct event_base *);
int event_base_loop(struct event_base *, int);
int event_base_loopbreak(struct event_base *);
int event_base_loopexit(struct event_base *, const struct timeval *);

struct event *event_new(struct event_base *, periscope_socket_t, short, event_callback_fn, void *);
void event_free(struct event *);
int event_add(struct event *ev, const struct timeval *timeout);
int event_del(struct event *);
void event_active(struct event *ev, int res, short ncalls);
int event_pending(const struct event *ev, short events, struct timeval *tv);

struct evconnlistener *evconnlistener_new(struct event_base *base, evconnlistener_cb cb, void *ptr, unsigned flags,
                                          int backlog, periscope_socket_t fd);
void evconnlistener_free(struct evconnlistener *lev);
void evconnlistener_set_error_cb(struct evconnlistener *lev, evconnlistener_errorcb errorcb);
int evutil_make_socket_nonblocking(periscope_socket_t sock);

struct bufferevent *bufferevent_socket_new(struct event_base *base, periscope_socket_t fd, int options);
void bufferevent_free(struct bufferevent *bufev);
void bufferevent_setcb(struct bufferevent *bufev, bufferevent_data_cb readcb, bufferevent_data_cb writecb,
                       bufferevent_event_cb eventcb, void *cbarg);
int bufferevent_enable(struct bufferevent *bufev, short event);
int bufferevent_disable(struct bufferevent *bufev, short event);
struct evbuffer *bufferevent_get_input(struct bufferevent *bufev);
struct evbuffer *bufferevent_get_output(struct bufferevent *bufev);
int bufferevent_write(struct bufferevent *bufev, const void *data, size_t size);
void bufferevent_setwatermark(struct bufferevent *bufev, short events, size_t lowmark, size_t highmark);
size_t evbuffer_get_length(const struct evbuffer *buf);
int evbuffer_remove(struct evbuffer *buf, void *data, size_t datlen);

// Function-like macros of libevent are not imported into Swift; these are their equivalents.
static inline struct event *periscope_evtimer_new(struct event_base *base, event_callback_fn cb, void *arg) {
    return event_new(base, -1, 0, cb, arg);
}
static inline struct event *periscope_evsignal_new(struct event_base *base, int signum, event_callback_fn cb, void *arg) {
    return event_new(base, signum, EV_SIGNAL | EV_PERSIST, cb, arg);
}
static inline struct event *periscope_evuser_new(struct event_base *base, event_callback_fn cb, void *arg) {
    return event_new(base, -1, EV_PERSIST, cb, arg);
}
static inline void periscope_evuser_trigger(struct event *ev) {
    event_active(ev, EV_READ, 0);
}
// struct timeval is { time_t tv_sec; suseconds_t tv_usec; }: two longs on every LP64 Linux.
struct periscope_timeval {
    long tv_sec;
    long tv_usec;
};
static inline int periscope_loopexit_ms(struct event_base *base, long ms) {
    struct periscope_timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return event_base_loopexit(base, (const struct timeval *)(const void *)&tv);
}

static inline int periscope_event_add_ms(struct event *ev, long ms) {
    struct periscope_timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return event_add(ev, (const struct timeval *)(const void *)&tv);
}

#endif
