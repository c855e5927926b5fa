/*
 * echo-c: a TCP echo server for donjon keeps, in C. It accepts on the
 * listening socket its keep preopened under the name "echo" and sends every
 * byte back to the client that sent it, until that client closes.
 *
 * One thread serves many clients: every socket is nonblocking and a single
 * poll_oneoff waits on the listener and all connections at once. The keep
 * wraps each connection in TLS, so the program sees plain bytes.
 *
 * Debian's wasi-libc (2022) has no accept() or poll(), so the program calls
 * the WASI functions of <wasi/api.h> directly.
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 main.c -o echo-c.wasm
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define FD_NAME "echo"
/* More clients than this wait in the listener's backlog until one leaves. */
#define MAX_CLIENTS 64
#define BUF_SIZE 16384
/* The userdata that marks the listener's subscription; clients use their
 * slot number. */
#define LISTENER_EVENT UINT64_MAX

struct conn {
    bool open;
    __wasi_fd_t fd;
    /* buf[off:len] was received and is not yet sent back. While it is not
     * empty the server stops reading from this client: the client cannot
     * make it buffer more than BUF_SIZE. */
    size_t off, len;
    uint8_t buf[BUF_SIZE];
};

struct server {
    __wasi_fd_t listener;
    int clients;
    struct conn conns[MAX_CLIENTS];
    __wasi_subscription_t subs[MAX_CLIENTS + 1];
    __wasi_event_t events[MAX_CLIENTS + 1];
};

/* find_fd looks name up in FD_NAMES, the keep's [[files]] names joined by
 * ':' (fd i is the i-th name). */
static bool find_fd(const char *name, __wasi_fd_t *fd) {
    const char *p = getenv("FD_NAMES");
    if (p == NULL) return false;
    size_t want = strlen(name);
    for (__wasi_fd_t i = 0;; i++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == want && memcmp(p, name, n) == 0) {
            *fd = i;
            return true;
        }
        if (end == NULL) return false;
        p = end + 1;
    }
}

static void close_conn(struct server *s, struct conn *c) {
    /* End our side of the stream first, so the client sees the end now even
     * where the runtime releases the host socket late (wazero 1.12's own
     * sockets wait for garbage collection). Errors change nothing here. */
    (void)__wasi_sock_shutdown(c->fd, __WASI_SDFLAGS_WR);
    (void)__wasi_fd_close(c->fd);
    c->open = false;
    s->clients--;
}

/* flush sends what is pending; false means the connection is done for. */
static bool flush(struct conn *c) {
    while (c->off < c->len) {
        __wasi_ciovec_t iov = {.buf = c->buf + c->off, .buf_len = c->len - c->off};
        __wasi_size_t n;
        __wasi_errno_t err = __wasi_fd_write(c->fd, &iov, 1, &n);
        if (err == __WASI_ERRNO_AGAIN) return true; /* the rest waits for FD_WRITE */
        if (err != 0) return false;                  /* e.g. the client reset */
        c->off += n;
    }
    c->off = c->len = 0;
    return true;
}

/* echo reads what the client sent and sends it back, or as much as the
 * socket takes now; false means the client closed or failed. */
static bool echo(struct conn *c) {
    __wasi_iovec_t iov = {.buf = c->buf, .buf_len = BUF_SIZE};
    __wasi_size_t n;
    __wasi_errno_t err = __wasi_fd_read(c->fd, &iov, 1, &n);
    if (err == __WASI_ERRNO_AGAIN) return true; /* woken early: wait again */
    if (err != 0 || n == 0) return false;        /* n == 0: the client closed */
    c->off = 0;
    c->len = n;
    return flush(c);
}

/* accept_clients takes waiting connections while there are free slots. */
static void accept_clients(struct server *s) {
    for (int slot = 0; slot < MAX_CLIENTS && s->clients < MAX_CLIENTS; slot++) {
        struct conn *c = &s->conns[slot];
        if (c->open) continue;
        __wasi_fd_t fd;
        /* NONBLOCK: a client's read or write must never stall the others. */
        __wasi_errno_t err = __wasi_sock_accept(s->listener, __WASI_FDFLAGS_NONBLOCK, &fd);
        if (err == __WASI_ERRNO_AGAIN) return;
        if (err == __WASI_ERRNO_BADF || err == __WASI_ERRNO_NOTSOCK || err == __WASI_ERRNO_INVAL) {
            /* The listener itself is unusable: retrying would only spin. */
            fprintf(stderr, "echo-c: accept on fd %u: %s; is \"%s\" kind = \"listen\" in Donjon.toml?\n",
                    (unsigned)s->listener, strerror(err), FD_NAME);
            exit(1);
        }
        if (err != 0) {
            /* A client that gave up before we got to it, for instance: the
             * next one may do better. */
            fprintf(stderr, "echo-c: accept: %s\n", strerror(err));
            return;
        }
        *c = (struct conn){.open = true, .fd = fd};
        s->clients++;
    }
}

static __wasi_subscription_t subscribe(__wasi_userdata_t userdata, __wasi_eventtype_t type, __wasi_fd_t fd) {
    __wasi_subscription_t sub = {.userdata = userdata, .u.tag = type};
    /* fd_read and fd_write have the same layout. */
    sub.u.u.fd_read.file_descriptor = fd;
    return sub;
}

static void serve(struct server *s) {
    for (;;) {
        __wasi_size_t nsubs = 0;
        if (s->clients < MAX_CLIENTS)
            s->subs[nsubs++] = subscribe(LISTENER_EVENT, __WASI_EVENTTYPE_FD_READ, s->listener);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct conn *c = &s->conns[i];
            if (!c->open) continue;
            /* A client with pending bytes waits to be writable, the others
             * to have something to read. */
            __wasi_eventtype_t type = c->off < c->len ? __WASI_EVENTTYPE_FD_WRITE : __WASI_EVENTTYPE_FD_READ;
            s->subs[nsubs++] = subscribe((__wasi_userdata_t)i, type, c->fd);
        }

        __wasi_size_t nevents;
        __wasi_errno_t err = __wasi_poll_oneoff(s->subs, s->events, nsubs, &nevents);
        if (err == __WASI_ERRNO_INTR) continue;
        if (err != 0) {
            fprintf(stderr, "echo-c: poll_oneoff: %s; the runtime must support polling sockets\n", strerror(err));
            exit(1);
        }

        bool accept_ready = false;
        for (__wasi_size_t k = 0; k < nevents; k++) {
            const __wasi_event_t *ev = &s->events[k];
            if (ev->userdata == LISTENER_EVENT) {
                accept_ready = true;
                continue;
            }
            if (ev->userdata >= MAX_CLIENTS) continue; /* not ours */
            struct conn *c = &s->conns[ev->userdata];
            if (!c->open) continue;
            if (ev->error == __WASI_ERRNO_BADF) {
                close_conn(s, c);
                continue;
            }
            /* Any other error (a runtime that cannot wait for this event,
             * say) is not final: try the operation, which says whether the
             * socket is ready (EAGAIN: not yet). */
            bool ok = c->off < c->len ? flush(c) : echo(c);
            if (!ok) close_conn(s, c);
        }
        /* Accept last, so a slot freed above is not reused while an event
         * for its previous client is still in this batch. */
        if (accept_ready) accept_clients(s);
    }
}

int main(void) {
    /* Heap, not stack: the buffers take about 1 MiB and a wasm stack is
     * small. */
    struct server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        fprintf(stderr, "echo-c: out of memory; raise [limits] memory in Donjon.toml\n");
        return 1;
    }
    if (!find_fd(FD_NAME, &s->listener)) {
        const char *names = getenv("FD_NAMES");
        fprintf(stderr,
                "echo-c: no file descriptor named \"%s\" in FD_NAMES=\"%s\": add a [[files]] entry with "
                "name = \"%s\" and kind = \"listen\" to Donjon.toml\n",
                FD_NAME, names ? names : "", FD_NAME);
        return 1;
    }
    /* A listener woken by a client that then went away must not block the
     * whole server in accept. */
    __wasi_errno_t err = __wasi_fd_fdstat_set_flags(s->listener, __WASI_FDFLAGS_NONBLOCK);
    if (err != 0) {
        fprintf(stderr, "echo-c: fd %u (\"%s\") cannot be made nonblocking: %s; is it kind = \"listen\" in Donjon.toml?\n",
                (unsigned)s->listener, FD_NAME, strerror(err));
        return 1;
    }
    fprintf(stderr, "echo-c: echoing on fd %u (\"%s\"), up to %d clients at once\n", (unsigned)s->listener, FD_NAME,
            MAX_CLIENTS);
    serve(s);
}
