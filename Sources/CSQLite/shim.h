#ifndef PERISCOPE_CSQLITE_SHIM_H
#define PERISCOPE_CSQLITE_SHIM_H

// SQLite 3 from Debian's libsqlite3-dev, for the history log (Sources/PeriscopeHistory).
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast of -1 to a function pointer, which Swift cannot import as a macro.
static inline sqlite3_destructor_type periscope_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
