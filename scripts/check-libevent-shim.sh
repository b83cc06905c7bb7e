#!/usr/bin/env bash
# Compiles our libevent declarations (Sources/CLibevent/shim.h) together with the real headers: a
# prototype that differs from libevent's is a "conflicting types" error, a constant that differs
# fails a static assertion.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(mktemp --suffix .c)
cat > "$src" <<'C'
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <sys/time.h>
enum {
    R_TIMEOUT = EV_TIMEOUT, R_READ = EV_READ, R_WRITE = EV_WRITE, R_SIGNAL = EV_SIGNAL, R_PERSIST = EV_PERSIST,
    R_LEV_FREE = LEV_OPT_CLOSE_ON_FREE, R_LEV_EXEC = LEV_OPT_CLOSE_ON_EXEC, R_BEV_FREE = BEV_OPT_CLOSE_ON_FREE,
    R_EOF = BEV_EVENT_EOF, R_ERROR = BEV_EVENT_ERROR,
};
#undef EV_TIMEOUT
#undef EV_READ
#undef EV_WRITE
#undef EV_SIGNAL
#undef EV_PERSIST
#undef LEV_OPT_CLOSE_ON_FREE
#undef LEV_OPT_CLOSE_ON_EXEC
#undef BEV_EVENT_EOF
#undef BEV_EVENT_ERROR
#include "Sources/CLibevent/shim.h"
_Static_assert(PERISCOPE_EVENT_BASE_FLAG_PRECISE_TIMER == EVENT_BASE_FLAG_PRECISE_TIMER, "precise timer flag");
_Static_assert(EV_TIMEOUT == R_TIMEOUT && EV_READ == R_READ && EV_WRITE == R_WRITE, "EV_*");
_Static_assert(EV_SIGNAL == R_SIGNAL && EV_PERSIST == R_PERSIST, "EV_*");
_Static_assert(LEV_OPT_CLOSE_ON_FREE == R_LEV_FREE && LEV_OPT_CLOSE_ON_EXEC == R_LEV_EXEC, "LEV_OPT_*");
_Static_assert(BEV_OPT_CLOSE_ON_FREE == R_BEV_FREE && BEV_EVENT_EOF == R_EOF && BEV_EVENT_ERROR == R_ERROR, "BEV_*");
_Static_assert(sizeof(struct timeval) == sizeof(struct periscope_timeval), "timeval layout");
int main(void) { return 0; }
C
cc -Werror -Wall -I. -c "$src" -o /dev/null
rm -f "$src"
# The TLS and zlib shim (Sources/CPeriscopeTLS) includes the real headers itself: compiling it strictly checks
# every call against libevent_openssl, OpenSSL 3 and zlib.
for file in Sources/CPeriscopeTLS/*.c; do
    cc -Werror -Wall -Wextra -ISources/CPeriscopeTLS/include -c "$file" -o /dev/null
done
# Likewise the HTTP server shim of `periscope ui` (Sources/CPeriscopeHTTP, libevent_extra's evhttp).
for file in Sources/CPeriscopeHTTP/*.c; do
    cc -Werror -Wall -Wextra -ISources/CPeriscopeHTTP/include -c "$file" -o /dev/null
done
echo "libevent shim matches the installed headers; the TLS/zlib shim compiles cleanly against them"
