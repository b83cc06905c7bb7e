// TLS over libevent: see include/CPeriscopeTLS.h.
#include "CPeriscopeTLS.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct periscope_tls_context {
    SSL_CTX *ctx;
};

static void copy_error(char *error, size_t len, const char *prefix) {
    if (!error || len == 0) return;
    unsigned long code = ERR_get_error();
    char detail[256] = "";
    if (code) ERR_error_string_n(code, detail, sizeof detail);
    snprintf(error, len, "%s%s%s", prefix, code ? ": " : "", detail);
    ERR_clear_error();
}

periscope_tls_context *periscope_tls_context_new(int server, const char *cert, const char *key, const char *ca,
                                                 char *error, size_t error_len) {
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) { copy_error(error, error_len, "SSL_CTX_new"); return NULL; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        copy_error(error, error_len, "cannot load the certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        copy_error(error, error_len, "cannot load the private key (or it does not match the certificate)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        copy_error(error, error_len, "cannot load the CA certificates");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 4);
    struct periscope_tls_context *context = calloc(1, sizeof *context);
    if (!context) { SSL_CTX_free(ctx); return NULL; }
    context->ctx = ctx;
    return context;
}

void periscope_tls_context_free(periscope_tls_context *context) {
    if (!context) return;
    SSL_CTX_free(context->ctx);
    free(context);
}

void *periscope_tls_accept(void *base, periscope_tls_context *context, int fd) {
    SSL *ssl = SSL_new(context->ctx);
    if (!ssl) { close(fd); return NULL; }
    evutil_make_socket_nonblocking(fd);
    struct bufferevent *bev = bufferevent_openssl_socket_new((struct event_base *)base, fd, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) { SSL_free(ssl); close(fd); return NULL; }
    return bev;
}

void *periscope_tls_connect(void *base, periscope_tls_context *context, const char *host, int port, int *fd_out,
                            char *error, size_t error_len) {
    struct addrinfo hints, *result = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int status = getaddrinfo(host, service, &hints, &result);
    if (status != 0 || !result) {
        snprintf(error, error_len, "cannot resolve %s: %s", host, gai_strerror(status));
        return NULL;
    }
    int fd = socket(result->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(error, error_len, "socket: %s", strerror(errno));
        freeaddrinfo(result);
        return NULL;
    }
    SSL *ssl = SSL_new(context->ctx);
    if (!ssl) {
        copy_error(error, error_len, "SSL_new");
        close(fd);
        freeaddrinfo(result);
        return NULL;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new((struct event_base *)base, fd, ssl,
                                                             BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        snprintf(error, error_len, "bufferevent_openssl_socket_new failed");
        SSL_free(ssl);
        close(fd);
        freeaddrinfo(result);
        return NULL;
    }
    if (bufferevent_socket_connect(bev, result->ai_addr, (int)result->ai_addrlen) != 0) {
        snprintf(error, error_len, "connect to %s:%d: %s", host, port, strerror(errno));
        bufferevent_free(bev);
        freeaddrinfo(result);
        return NULL;
    }
    freeaddrinfo(result);
    *fd_out = fd;
    return bev;
}

static X509 *peer_certificate(void *bev) {
    SSL *ssl = bufferevent_openssl_get_ssl((struct bufferevent *)bev);
    if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK) return NULL;
    return SSL_get1_peer_certificate(ssl);
}

int periscope_tls_peer_common_name(void *bev, char *out, size_t out_len) {
    X509 *cert = peer_certificate(bev);
    if (!cert || out_len == 0) return 0;
    int length = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)out_len);
    X509_free(cert);
    return length > 0;
}

int periscope_tls_peer_names(void *bev, const char *name) {
    X509 *cert = peer_certificate(bev);
    if (!cert) return 0;
    int matches = X509_check_host(cert, name, strlen(name), X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
    if (!matches) {
        char cn[256];
        int length = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
        matches = length > 0 && strcmp(cn, name) == 0;
    }
    X509_free(cert);
    return matches;
}

void periscope_tls_last_error(void *bev, char *out, size_t out_len) {
    if (out_len == 0) return;
    out[0] = 0;
    unsigned long code = bufferevent_get_openssl_error((struct bufferevent *)bev);
    if (code) ERR_error_string_n(code, out, out_len);
}

int periscope_tls_pending(void *bev) {
    SSL *ssl = bufferevent_openssl_get_ssl((struct bufferevent *)bev);
    return ssl ? SSL_pending(ssl) : 0;
}
