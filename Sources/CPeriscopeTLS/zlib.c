// zlib compression of report frames: see include/CPeriscopeTLS.h.
#include "CPeriscopeTLS.h"

#include <stdlib.h>
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

// Streams: one zlib stream per connection, flushed (Z_SYNC_FLUSH) after each message, so each message can
// refer back to the previous ones (a report that changed a little costs little).
struct periscope_zstream {
    z_stream stream;
    int deflating;
    unsigned char *buffer;
    size_t capacity;
};

periscope_zstream *periscope_zstream_new(int deflating) {
    struct periscope_zstream *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->deflating = deflating;
    int status = deflating ? deflateInit(&z->stream, 6) : inflateInit(&z->stream);
    if (status != Z_OK) { free(z); return NULL; }
    return z;
}

void periscope_zstream_free(periscope_zstream *z) {
    if (!z) return;
    if (z->deflating) deflateEnd(&z->stream); else inflateEnd(&z->stream);
    free(z->buffer);
    free(z);
}

static int reserve(struct periscope_zstream *z, size_t needed) {
    if (needed <= z->capacity) return 1;
    size_t capacity = z->capacity ? z->capacity : 65536;
    while (capacity < needed) capacity *= 2;
    unsigned char *grown = realloc(z->buffer, capacity);
    if (!grown) return 0;
    z->buffer = grown;
    z->capacity = capacity;
    return 1;
}

long periscope_zstream_process(periscope_zstream *z, const unsigned char *input, size_t length, size_t max_output,
                               const unsigned char **output) {
    z->stream.next_in = (Bytef *)input;
    z->stream.avail_in = (uInt)length;
    size_t produced = 0;
    for (;;) {
        size_t want = produced + 65536;
        if (want > max_output) want = max_output;
        if (want <= produced) return -2;
        if (!reserve(z, want)) return -1;
        z->stream.next_out = z->buffer + produced;
        z->stream.avail_out = (uInt)(want - produced);
        int status = z->deflating ? deflate(&z->stream, Z_SYNC_FLUSH) : inflate(&z->stream, Z_SYNC_FLUSH);
        produced = want - z->stream.avail_out;
        if (status != Z_OK && status != Z_BUF_ERROR) return -1;
        // Done when every input byte is taken and the output was not filled (nothing more is pending).
        if (z->stream.avail_in == 0 && z->stream.avail_out > 0) break;
        if (status == Z_BUF_ERROR && z->stream.avail_out > 0) return -1;  // truncated input
    }
    *output = z->buffer;
    return (long)produced;
}
