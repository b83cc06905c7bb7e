#ifndef PERISCOPE_CLIBEVENT_SHIM_H
#define PERISCOPE_CLIBEVENT_SHIM_H

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

// Function-like macros are not imported into Swift; wrap the ones we use.
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
static inline int periscope_event_add_ms(struct event *ev, long ms) {
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return event_add(ev, &tv);
}

#endif
