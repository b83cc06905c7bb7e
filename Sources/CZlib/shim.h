#ifndef PERISCOPE_CZLIB_SHIM_H
#define PERISCOPE_CZLIB_SHIM_H

// zlib from Debian's zlib1g-dev, for the history log's compressed segments and checkpoints.
#include <zlib.h>

#endif
