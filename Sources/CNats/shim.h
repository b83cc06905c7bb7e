#ifndef PERISCOPE_CNATS_SHIM_H
#define PERISCOPE_CNATS_SHIM_H

// The NATS C client (Debian's libnats-dev, pkg-config libnats). Swift does not import this module: it uses
// CPeriscopeNATS, whose header includes only compiler-builtin headers (see Sources/CLibevent/shim.h for why).
// This target exists so that SwiftPM finds and links libnats through pkg-config.
#include <nats/nats.h>

#endif
