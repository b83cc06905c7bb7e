// zlib compression of report frames: see include/CPeriscopeTLS.h.
#include "CPeriscopeTLS.h"

#include <zlib.h>

size_t periscope_deflate_bound(size_t length) {
    return (size_t)compressBound((uLong)length);
}

long periscope_deflate(const unsigned char *input, size_t length, unsigned char *output, size_t capacity) {
    uLongf produced = (uLongf)capacity;
    if (compress2(output, &produced, input, (uLong)length, 6) != Z_OK) return -1;
    return (long)produced;
}

long periscope_inflate(const unsigned char *input, size_t length, unsigned char *output, size_t capacity) {
    z_stream stream = {0};
    if (inflateInit(&stream) != Z_OK) return -1;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int status = inflate(&stream, Z_FINISH);
    long produced = (long)stream.total_out;
    inflateEnd(&stream);
    if (status == Z_STREAM_END) return produced;
    if (status == Z_BUF_ERROR && stream.avail_out == 0) return -2;
    return -1;
}
