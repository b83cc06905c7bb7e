#ifndef PERISCOPE_CTLS_H
#define PERISCOPE_CTLS_H

// TLS 1.3 bufferevents (libevent_openssl on OpenSSL 3) and zlib, behind plain C types. Only
// compiler-builtin headers are included here, for the reason given in Sources/CLibevent/shim.h (glibc's
// fd_set seen through two Clang modules); tls.c and zlib.c include the real headers, so every call is
// checked against them when the target compiles (scripts/check-libevent-shim.sh compiles them with -Werror).
// Event bases and bufferevents cross this boundary as `void *`: the same `struct event_base *` and
// `struct bufferevent *` that CLibevent declares.

#include <stddef.h>

typedef struct periscope_tls_context periscope_tls_context;

/// A TLS 1.3-only context for one role (server: accepts, client: connects), with the certificate chain and key
/// in `cert`/`key` (PEM) and peers verified against the CA certificates in `ca` (mutual TLS: a server requires a
/// client certificate). NULL on failure, with a readable message in `error`.
periscope_tls_context *periscope_tls_context_new(int server, const char *cert, const char *key, const char *ca,
                                                 char *error, size_t error_len);
void periscope_tls_context_free(periscope_tls_context *context);

/// Wraps the accepted socket `fd` in a TLS bufferevent that runs the server handshake (takes ownership of fd;
/// freeing the bufferevent closes it and frees the TLS state). NULL on failure (fd is closed).
void *periscope_tls_accept(void *base, periscope_tls_context *context, int fd);

/// Starts a non-blocking TCP connect to `host:port` and the client handshake on it. Output written meanwhile
/// waits in the bufferevent. Returns the bufferevent (and its socket in `*fd_out`), or NULL with `error`.
void *periscope_tls_connect(void *base, periscope_tls_context *context, const char *host, int port, int *fd_out,
                            char *error, size_t error_len);

/// The common name of the peer's verified certificate into `out` (NUL-terminated); 0 without a certificate.
int periscope_tls_peer_common_name(void *bev, char *out, size_t out_len);

/// 1 when the peer's verified certificate names `name`: its common name, or a DNS subject alternative name.
int periscope_tls_peer_names(void *bev, const char *name);

/// The last TLS error on the bufferevent, as text (empty when there is none).
void periscope_tls_last_error(void *bev, char *out, size_t out_len);

/// Decrypted bytes OpenSSL holds that the bufferevent has not taken yet.
int periscope_tls_pending(void *bev);

/// zlib: the most bytes `periscope_deflate` may produce for `length` input bytes.
size_t periscope_deflate_bound(size_t length);
/// zlib-compresses `input` into `output`; returns the compressed length, or -1.
long periscope_deflate(const unsigned char *input, size_t length, unsigned char *output, size_t capacity);
/// Inflates a zlib stream into `output`; returns the length, -1 when the input is not a complete zlib stream,
/// -2 when the result would exceed `capacity` (the bound a peer cannot raise).
long periscope_inflate(const unsigned char *input, size_t length, unsigned char *output, size_t capacity);

/// A zlib stream kept across messages (one per connection and direction): each message is flushed with
/// Z_SYNC_FLUSH, so the receiver inflates it at once, and later messages may refer back to earlier ones.
typedef struct periscope_zstream periscope_zstream;
periscope_zstream *periscope_zstream_new(int deflating);
void periscope_zstream_free(periscope_zstream *z);
/// Deflates or inflates one whole message; `*output` points into the stream's own buffer, valid until the next
/// call. Returns the length, -1 on a broken stream, -2 when the result would exceed `max_output`. After an
/// error the stream is unusable.
long periscope_zstream_process(periscope_zstream *z, const unsigned char *input, size_t length, size_t max_output,
                               const unsigned char **output);

#endif
