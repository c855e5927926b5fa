/*
 * donjon's C test guest: one program whose first argument picks a check of
 * the WASI preview 1 system it runs on. Build it with
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 guest.c -o guest.wasm
 *
 * It also builds natively (cc guest.c), minus the raw WASI calls, so its
 * POSIX checks can themselves be checked against Linux.
 *
 * Output protocol (shared with the Go and Rust guests, see ../README.md):
 * "ok CHECK" per passed check, "info ..." for values, "FAIL CHECK: why" then
 * exit 1 on the first mismatch, and "done SUBCOMMAND" at the end of a check
 * run. Usage errors exit 64.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef __wasi__
#include <wasi/api.h>
#else
#include <sys/random.h>
#endif

static const char usage[] =
    "usage: guest SUBCOMMAND [ARGS]\n"
    "  args              print argv as a JSON array\n"
    "  env               print the environment, sorted, as a JSON array\n"
    "  fs DIR [nolinks]  file and directory checks inside DIR; nolinks: links must fail (EPERM)\n"
    "  wasi-fd DIR       raw fd_* and path_* calls inside DIR (preopen root)\n"
    "  rights DIR        fd_fdstat_set_rights on a file inside DIR\n"
    "  preopens          list preopened directories\n"
    "  escape DIR        try to leave DIR (preopen root): refused/ESCAPED NAME\n"
    "  clock [UNIXSEC]   realtime (near UNIXSEC if given), monotonic, resolution\n"
    "  random            two 64-byte random reads differ and are not all zero\n"
    "  sleep MS          nanosleep, checks at least MS elapsed\n"
    "  sleep-poll MS     poll() with no descriptors, checks at least MS elapsed\n"
    "  poll-stdin MS     poll() stdin for MS: prints timeout or ready\n"
    "  poll-stdout       poll() stdout for writing: prints writable\n"
    "  poll-oneoff       raw poll_oneoff with several clock subscriptions\n"
    "  yield             sched_yield\n"
    "  raise SIG         proc_raise(SIG)\n"
    "  cat               copy stdin to stdout\n"
    "  exit N            exit with code N\n"
    "  trap              __builtin_trap(): the wasm unreachable instruction\n"
    "  div0 [D]          100 / D with D read from argv (default 0): a wasm trap\n"
    "  alloc-forever     malloc and touch 1 MiB blocks until stopped or refused\n"
    "  loop-forever      compute without host calls until stopped\n"
    "  serve FD          accept one connection on preopened socket FD, echo one line\n";

static void usage_exit(void) {
    fputs(usage, stderr);
    exit(64);
}

static void ok(const char *check) { printf("ok %s\n", check); }

/* soft_failures counts failed checks that later checks do not build on:
 * those report and carry on, and the run fails at its end. */
static int soft_failures;

__attribute__((format(printf, 2, 3))) static void soft_failf(const char *check, const char *fmt, ...) {
    va_list ap;
    printf("FAIL %s: ", check);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    soft_failures++;
}

static void done(const char *subcommand) {
    if (soft_failures > 0) {
        printf("FAIL %s: %d checks failed\n", subcommand, soft_failures);
        fflush(stdout);
        exit(1);
    }
    printf("done %s\n", subcommand);
}

/* failf reports a failed check and ends the program: later checks build on
 * earlier ones, so going on would only add noise. */
__attribute__((format(printf, 2, 3), noreturn)) static void failf(const char *check, const char *fmt, ...) {
    va_list ap;
    printf("FAIL %s: ", check);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

#define CHECK(check, cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) failf(check, __VA_ARGS__);                                                    \
    } while (0)

/* SYS fails check when a POSIX call returns a negative value. */
#define SYS(check, expr)                                                                           \
    do {                                                                                           \
        if ((expr) < 0) failf(check, "%s: %s", #expr, strerror(errno));                           \
    } while (0)

/* FAILS_WITH checks that a POSIX call fails with the given errno. */
#define FAILS_WITH(check, expr, want)                                                              \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long)(expr);                                                                    \
        if (r_ >= 0 || errno != (want))                                                            \
            failf(check, "%s returned %ld errno %d (%s), want errno %d (%s)", #expr, r_, errno,    \
                  strerror(errno), want, strerror(want));                                          \
    } while (0)

static long int_arg(int argc, char **argv, int i) {
    if (argc <= i) usage_exit();
    char *end;
    errno = 0;
    long n = strtol(argv[i], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[i]) {
        fprintf(stderr, "not an integer: \"%s\"\n", argv[i]);
        exit(64);
    }
    return n;
}

static const char *dir_arg(int argc, char **argv) {
    if (argc < 3) usage_exit();
    return argv[2];
}

static void path_join(char *out, size_t size, const char *a, const char *b) {
    int n = snprintf(out, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size) failf("path", "path too long: %s/%s", a, b);
}

/* ---- args and env ---- */

static void print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20) printf("\\u%04x", *p);
            else putchar(*p);
        }
    }
    putchar('"');
}

static void print_json_array(char **items, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) putchar(',');
        print_json_string(items[i]);
    }
    puts("]");
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

extern char **environ;

static void run_env(void) {
    size_t n = 0;
    while (environ[n]) n++;
    char **sorted = calloc(n + 1, sizeof *sorted);
    if (!sorted) failf("env", "out of memory");
    memcpy(sorted, environ, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_strings);
    print_json_array(sorted, n);
    free(sorted);
}

/* ---- files and directories ---- */

static const char greeting[] = "hello, donjon\n";

/* rm_rf removes what an earlier failed run left behind. */
static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char child[PATH_MAX];
                path_join(child, sizeof child, path, e->d_name);
                rm_rf(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void write_all(const char *check, int fd, const char *s) {
    size_t len = strlen(s);
    ssize_t n = write(fd, s, len);
    CHECK(check, n == (ssize_t)len, "wrote %zd of %zu bytes: %s", n, len, strerror(errno));
}

/* read_file reads at most size-1 bytes of path, NUL-terminated; returns the
 * length. */
static size_t read_file(const char *check, const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY);
    SYS(check, fd);
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf + total, size - 1 - total);
        SYS(check, n);
        if (n == 0) break;
        total += (size_t)n;
        CHECK(check, total < size - 1, "%s is larger than %zu bytes", path, size - 1);
    }
    buf[total] = '\0';
    close(fd);
    return total;
}

static void expect_content(const char *check, const char *path, const char *want, size_t want_len) {
    char buf[256];
    size_t n = read_file(check, path, buf, sizeof buf);
    CHECK(check, n == want_len && memcmp(buf, want, n) == 0, "%s holds %zu bytes \"%s\", want %zu bytes \"%s\"",
          path, n, buf, want_len, want);
}

static void write_file(const char *check, const char *path, const char *content) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    SYS(check, fd);
    write_all(check, fd, content);
    SYS(check, close(fd));
}

static void check_seek(const char *a) {
    char buf[16] = {0};
    int fd = open(a, O_RDONLY);
    SYS("seek", fd);
    CHECK("seek", lseek(fd, 7, SEEK_SET) == 7, "seek to 7: %s", strerror(errno));
    CHECK("seek", read(fd, buf, 6) == 6 && memcmp(buf, "donjon", 6) == 0, "read at 7: \"%s\"", buf);
    CHECK("seek", lseek(fd, 0, SEEK_CUR) == 13, "current position is not 13");
    CHECK("seek", lseek(fd, -1, SEEK_END) == 13, "seek to end-1 is not 13");
    CHECK("seek", read(fd, buf, 1) == 1 && buf[0] == '\n', "read at end-1");
    CHECK("seek", lseek(fd, 100, SEEK_SET) == 100, "seek past the end: %s", strerror(errno));
    CHECK("seek", read(fd, buf, sizeof buf) == 0, "read past the end is not EOF");
    FAILS_WITH("seek", lseek(fd, -100, SEEK_SET), EINVAL);
    SYS("seek", close(fd));
    ok("seek");
}

static void check_pread_pwrite(const char *a) {
    char buf[8] = {0};
    int fd = open(a, O_RDWR);
    SYS("pread-pwrite", fd);
    CHECK("pread-pwrite", pwrite(fd, "DONJON", 6, 7) == 6, "pwrite: %s", strerror(errno));
    CHECK("pread-pwrite", pread(fd, buf, 6, 7) == 6 && memcmp(buf, "DONJON", 6) == 0, "pread: \"%s\"", buf);
    /* Positional I/O must leave the file offset alone. */
    off_t pos = lseek(fd, 0, SEEK_CUR);
    CHECK("pread-pwrite", pos == 0, "offset moved to %lld", (long long)pos);
    SYS("pread-pwrite", close(fd));
    expect_content("pread-pwrite", a, "hello, DONJON\n", 14);
    ok("pread-pwrite");
}

static void check_append(const char *a) {
    int fd = open(a, O_WRONLY | O_APPEND);
    SYS("append", fd);
    write_all("append", fd, "mo");
    /* With O_APPEND every write goes to the end, wherever the offset is. */
    CHECK("append", lseek(fd, 0, SEEK_SET) == 0, "seek: %s", strerror(errno));
    write_all("append", fd, "re\n");
    SYS("append", close(fd));
    expect_content("append", a, "hello, DONJON\nmore\n", 19);
    ok("append");
}

static void check_truncate(const char *a) {
    int fd = open(a, O_RDWR);
    SYS("truncate", fd);
    SYS("truncate", ftruncate(fd, 5));
    expect_content("truncate", a, "hello", 5);
    SYS("truncate", truncate(a, 10));
    expect_content("truncate", a, "hello\0\0\0\0\0", 10);
    struct stat st;
    SYS("truncate", fstat(fd, &st));
    CHECK("truncate", st.st_size == 10, "fstat size %lld after extend, want 10", (long long)st.st_size);
    SYS("truncate", close(fd));
    ok("truncate");
}

/* expect_at reads fd from offset 0 with pread, which leaves its offset
 * alone. */
static void expect_at(const char *which, int fd, const char *want) {
    char buf[64] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK("two-fds", n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0,
          "pread through the %s descriptor: %zd bytes \"%s\" (%s), want \"%s\"", which, n, buf, strerror(errno), want);
}

static void same_size(int fd1, int fd2, off_t want) {
    struct stat s1, s2;
    SYS("two-fds", fstat(fd1, &s1));
    SYS("two-fds", fstat(fd2, &s2));
    CHECK("two-fds", s1.st_size == want && s2.st_size == want, "fstat sizes %lld and %lld, want %lld",
          (long long)s1.st_size, (long long)s2.st_size, (long long)want);
}

/* check_two_fds checks that two descriptors of one file see each other's
 * changes at once: writes, a truncate and an append, with fstat sizes that
 * agree. */
static void check_two_fds(const char *w) {
    char t[PATH_MAX], buf[64] = {0};
    path_join(t, sizeof t, w, "t.txt");
    int fd1 = open(t, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0644);
    SYS("two-fds", fd1);
    int fd2 = open(t, O_RDWR);
    SYS("two-fds", fd2);

    write_all("two-fds", fd1, "written by one\n");
    /* A sequential read from the second descriptor's own offset. */
    ssize_t n = read(fd2, buf, sizeof buf - 1);
    CHECK("two-fds", n == 15 && memcmp(buf, "written by one\n", 15) == 0,
          "read through the second descriptor: %zd bytes \"%s\"", n, buf);
    same_size(fd1, fd2, 15);

    write_all("two-fds", fd2, "TWO");
    expect_at("first", fd1, "written by one\nTWO");
    same_size(fd1, fd2, 18);

    SYS("two-fds", ftruncate(fd2, 7));
    expect_at("first", fd1, "written");
    same_size(fd1, fd2, 7);

    /* Appending goes to the end the other descriptor's truncate left. */
    write_all("two-fds", fd1, " twice");
    expect_at("second", fd2, "written twice");
    same_size(fd1, fd2, 13);

    SYS("two-fds", close(fd1));
    SYS("two-fds", close(fd2));
    expect_content("two-fds", t, "written twice", 13);
    SYS("two-fds", unlink(t));
    ok("two-fds");
}

/* check_times sets b's times by path, through the symbolic link l unless l
 * is NULL (then by path again), and on an open descriptor. */
static void check_times(const char *b, const char *l) {
    struct timespec ts[2] = {{1000000000, 0}, {1500000000, 123456789}};
    struct stat st;
    SYS("set-times", utimensat(AT_FDCWD, b, ts, 0));
    SYS("set-times", stat(b, &st));
    CHECK("set-times", st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 0, "atime %lld.%09ld",
          (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
    CHECK("set-times", st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 123456789, "mtime %lld.%09ld",
          (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

    /* Through a symlink, the target's times change. */
    struct timespec via_link[2] = {{1100000000, 0}, {1600000000, 0}};
    SYS("set-times", utimensat(AT_FDCWD, l ? l : b, via_link, 0));
    SYS("set-times", stat(b, &st));
    CHECK("set-times", st.st_mtim.tv_sec == 1600000000, "mtime via %s %lld", l ? "symlink" : "path",
          (long long)st.st_mtim.tv_sec);

    /* On an open file: omit atime, set mtime. */
    int fd = open(b, O_RDWR);
    SYS("set-times", fd);
    struct timespec omit_atime[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
    SYS("set-times", futimens(fd, omit_atime));
    SYS("set-times", fstat(fd, &st));
    CHECK("set-times", st.st_atim.tv_sec == 1100000000, "atime changed to %lld despite UTIME_OMIT",
          (long long)st.st_atim.tv_sec);
    CHECK("set-times", st.st_mtim.tv_sec == 2000000000, "futimens mtime %lld", (long long)st.st_mtim.tv_sec);

    /* "Now" takes the time from the host's clock. Debian's wasi-libc
     * (2022) rejects UTIME_NOW in futimens with EINVAL (and futimens(fd,
     * NULL) sets both times to 0), so the WASI build asks for it directly. */
    struct timespec now;
#ifdef __wasi__
    __wasi_errno_t e = __wasi_fd_filestat_set_times(fd, 0, 0, __WASI_FSTFLAGS_MTIM_NOW);
    CHECK("set-times", e == 0, "fd_filestat_set_times(MTIM_NOW): errno %d", e);
#else
    struct timespec now_mtime[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    SYS("set-times", futimens(fd, now_mtime));
#endif
    SYS("set-times", fstat(fd, &st));
    SYS("set-times", clock_gettime(CLOCK_REALTIME, &now));
    long long skew = (long long)st.st_mtim.tv_sec - (long long)now.tv_sec;
    CHECK("set-times", skew > -86400 && skew < 86400, "UTIME_NOW set mtime %lld, clock says %lld",
          (long long)st.st_mtim.tv_sec, (long long)now.tv_sec);
    SYS("set-times", close(fd));
    ok("set-times");
}

#define DIR_ENTRIES 500

/* check_readdir lists a directory of many files, a subdirectory and, if
 * links, a symbolic link. */
static void check_readdir(const char *w, int links) {
    char d[PATH_MAX];
    path_join(d, sizeof d, w, "d");
    SYS("readdir", mkdir(d, 0755));
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    SYS("readdir", dfd);
    /* Enough entries, with long names, that a listing needs more than one
     * fd_readdir call, so the cookies are exercised. Created with *at calls
     * relative to a directory that is not a preopen. */
    char name[64];
    for (int i = 0; i < DIR_ENTRIES; i++) {
        snprintf(name, sizeof name, "entry-%04d-abcdefghijklmnopqrstuvwxyz0123456789", i);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        SYS("readdir", fd);
        SYS("readdir", close(fd));
    }
    SYS("readdir", mkdirat(dfd, "sub", 0755));
    if (links) SYS("readdir", symlinkat("sub", dfd, "link"));

    static char seen[DIR_ENTRIES];
    memset(seen, 0, sizeof seen);
    int dots = 0, sub = 0, link = 0, count = 0;
    DIR *dir = opendir(d);
    CHECK("readdir", dir != NULL, "opendir: %s", strerror(errno));
    long middle_pos = -1;
    char middle_name[256] = {0};
    struct dirent *e;
    errno = 0;
    while ((e = readdir(dir)) != NULL) {
        count++;
        if (count == DIR_ENTRIES / 2) {
            middle_pos = telldir(dir);
        } else if (count == DIR_ENTRIES / 2 + 1) {
            snprintf(middle_name, sizeof middle_name, "%s", e->d_name);
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            dots++;
            CHECK("readdir", e->d_type == DT_DIR, "%s has type %d, want directory", e->d_name, e->d_type);
        } else if (strcmp(e->d_name, "sub") == 0) {
            sub++;
            CHECK("readdir", e->d_type == DT_DIR, "sub has type %d, want directory", e->d_type);
        } else if (strcmp(e->d_name, "link") == 0) {
            link++;
            CHECK("readdir", e->d_type == DT_LNK, "link has type %d, want symlink", e->d_type);
        } else {
            int i;
            CHECK("readdir", sscanf(e->d_name, "entry-%4d-", &i) == 1 && i >= 0 && i < DIR_ENTRIES,
                  "unexpected entry \"%s\"", e->d_name);
            CHECK("readdir", !seen[i], "entry \"%s\" listed twice", e->d_name);
            CHECK("readdir", e->d_type == DT_REG, "%s has type %d, want regular", e->d_name, e->d_type);
            seen[i] = 1;
        }
        errno = 0;
    }
    CHECK("readdir", errno == 0, "readdir: %s", strerror(errno));
    for (int i = 0; i < DIR_ENTRIES; i++) CHECK("readdir", seen[i], "entry %d missing", i);
    CHECK("readdir", sub == 1 && link == links && dots <= 2, "sub %d link %d dots %d", sub, link, dots);
    ok("readdir");

    /* A position from telldir leads back to the same next entry. */
    CHECK("readdir-seek", middle_pos >= 0 && middle_name[0], "no middle position recorded");
    rewinddir(dir);
    int again = 0;
    while (readdir(dir) != NULL) again++;
    CHECK("readdir-rewind", again == count, "after rewinddir listed %d entries, first time %d", again, count);
    ok("readdir-rewind");
    /* Going back to an earlier position needs cookies the runtime can
     * resume from anywhere, not only where the last read stopped. */
    seekdir(dir, middle_pos);
    errno = 0;
    e = readdir(dir);
    if (e != NULL && strcmp(e->d_name, middle_name) == 0) ok("readdir-seek");
    else soft_failf("readdir-seek", "after seekdir read \"%s\" (%s), want \"%s\"", e ? e->d_name : "(end)",
                    strerror(errno), middle_name);
    closedir(dir);

    SYS("rmdir-empty", unlinkat(dfd, "sub", AT_REMOVEDIR));
    if (links) SYS("rmdir-empty", unlinkat(dfd, "link", 0));
    for (int i = 0; i < DIR_ENTRIES; i++) {
        snprintf(name, sizeof name, "entry-%04d-abcdefghijklmnopqrstuvwxyz0123456789", i);
        SYS("rmdir-empty", unlinkat(dfd, name, 0));
    }
    SYS("rmdir-empty", close(dfd));
    SYS("rmdir-empty", rmdir(d));
    ok("rmdir-empty");
}

static void check_errors(const char *w, const char *file) {
    char missing[PATH_MAX], full[PATH_MAX], x[PATH_MAX], buf[4];
    path_join(missing, sizeof missing, w, "missing");
    FAILS_WITH("errors", open(missing, O_RDONLY), ENOENT);
    FAILS_WITH("errors", open(file, O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    FAILS_WITH("errors", mkdir(w, 0755), EEXIST);
    FAILS_WITH("errors", open(file, O_RDONLY | O_DIRECTORY), ENOTDIR);
    FAILS_WITH("errors", open(w, O_WRONLY), EISDIR);
    FAILS_WITH("errors", rmdir(file), ENOTDIR);
    path_join(full, sizeof full, w, "full");
    path_join(x, sizeof x, full, "x");
    SYS("errors", mkdir(full, 0755));
    write_file("errors", x, "");
    FAILS_WITH("errors", rmdir(full), ENOTEMPTY);
    errno = 0;
    CHECK("errors", unlink(full) < 0 && (errno == EISDIR || errno == EPERM), "unlink of a directory: %s",
          strerror(errno));
    int dfd = open(full, O_RDONLY | O_DIRECTORY);
    SYS("errors", dfd);
    errno = 0;
    CHECK("errors", read(dfd, buf, sizeof buf) < 0 && (errno == EISDIR || errno == EBADF), "read of a directory: %s",
          strerror(errno));
    SYS("errors", close(dfd));
    FAILS_WITH("errors", close(dfd), EBADF);
    SYS("errors", unlink(x));
    SYS("errors", rmdir(full));
    ok("errors");
}

/* check_links makes c a hard link and l a symbolic link to b. */
static void check_links(const char *b, const char *c, const char *l) {
    struct stat st, fst;
    SYS("hardlink", link(b, c));
    SYS("hardlink", stat(b, &st));
    CHECK("hardlink", st.st_nlink == 2, "link count %llu, want 2", (unsigned long long)st.st_nlink);
    SYS("hardlink", stat(c, &fst));
    CHECK("hardlink", st.st_ino == fst.st_ino, "the two names have different inodes");
    write_file("hardlink", c, "shared");
    expect_content("hardlink", b, "shared", 6);
    ok("hardlink");

    SYS("symlink", symlink("b.txt", l));
    char target[64] = {0};
    ssize_t n = readlink(l, target, sizeof target - 1);
    CHECK("symlink", n == 5 && strcmp(target, "b.txt") == 0, "readlink: %zd \"%s\"", n, target);
    SYS("symlink", lstat(l, &st));
    CHECK("symlink", S_ISLNK(st.st_mode), "lstat mode %o is not a symlink", st.st_mode);
    SYS("symlink", stat(l, &st));
    CHECK("symlink", S_ISREG(st.st_mode) && st.st_size == 6, "stat through the link: mode %o size %lld", st.st_mode,
          (long long)st.st_size);
    expect_content("symlink", l, "shared", 6);
    FAILS_WITH("symlink", readlink(b, target, sizeof target), EINVAL);
    ok("symlink");
}

/* check_links_refused checks that neither a hard link c nor a symbolic link
 * l to b can be made, and leaves b as check_links would. */
static void check_links_refused(const char *w, const char *b, const char *c, const char *l) {
    struct stat st;
    char target[64];
    FAILS_WITH("hardlink-refused", link(b, c), EPERM);
    FAILS_WITH("hardlink-refused", lstat(c, &st), ENOENT);
    SYS("hardlink-refused", stat(b, &st));
    CHECK("hardlink-refused", st.st_nlink == 1, "link count %llu after a refused link, want 1",
          (unsigned long long)st.st_nlink);
    write_file("hardlink-refused", b, "shared");
    ok("hardlink-refused");

    FAILS_WITH("symlink-refused", symlink("b.txt", l), EPERM);
    FAILS_WITH("symlink-refused", lstat(l, &st), ENOENT);
    /* Nothing is a link, so reading one is EINVAL, as for any plain file. */
    FAILS_WITH("symlink-refused", readlink(b, target, sizeof target), EINVAL);
    FAILS_WITH("symlink-refused", readlink(w, target, sizeof target), EINVAL);
    SYS("symlink-refused", lstat(b, &st));
    CHECK("symlink-refused", S_ISREG(st.st_mode) && st.st_size == 6, "lstat mode %o size %lld", st.st_mode,
          (long long)st.st_size);
    ok("symlink-refused");
}

/* run_fs runs the file checks in a fresh DIR/fs.c.work. With links 0
 * ("fs DIR nolinks", for a directory that refuses links, as a sealed one
 * does) the link checks expect EPERM and no other check makes a link. */
static void run_fs(const char *dir, int links) {
    char w[PATH_MAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], l[PATH_MAX], d1[PATH_MAX], d2[PATH_MAX];
    path_join(w, sizeof w, dir, "fs.c.work");
    path_join(a, sizeof a, w, "a.txt");
    path_join(b, sizeof b, w, "b.txt");
    path_join(c, sizeof c, w, "c.txt");
    path_join(l, sizeof l, w, "l");
    path_join(d1, sizeof d1, w, "d1");
    path_join(d2, sizeof d2, w, "d2");
    rm_rf(w);
    struct stat st, fst;

    SYS("mkdir", mkdir(w, 0755));
    SYS("mkdir", stat(w, &st));
    CHECK("mkdir", S_ISDIR(st.st_mode), "mode %o is not a directory", st.st_mode);
    ok("mkdir");

    int fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0644);
    SYS("create-write", fd);
    struct iovec iov[2] = {{(void *)greeting, 7}, {(void *)(greeting + 7), 7}};
    ssize_t n = writev(fd, iov, 2);
    CHECK("create-write", n == 14, "writev wrote %zd: %s", n, strerror(errno));
    SYS("create-write", close(fd));
    ok("create-write");

    SYS("stat", stat(a, &st));
    CHECK("stat", S_ISREG(st.st_mode) && st.st_size == 14, "mode %o size %lld, want a regular file of 14 bytes",
          st.st_mode, (long long)st.st_size);
    ok("stat");

    fd = open(a, O_RDONLY);
    SYS("read", fd);
    char buf[32] = {0};
    struct iovec riov[2] = {{buf, 5}, {buf + 5, sizeof buf - 6}};
    n = readv(fd, riov, 2);
    CHECK("read", n == 14 && memcmp(buf, greeting, 14) == 0, "readv got %zd bytes \"%s\"", n, buf);
    ok("read");

    SYS("fstat", fstat(fd, &fst));
    CHECK("fstat", S_ISREG(fst.st_mode) && fst.st_size == 14, "fstat mode %o size %lld", fst.st_mode,
          (long long)fst.st_size);
    CHECK("fstat", fst.st_dev == st.st_dev && fst.st_ino == st.st_ino, "fstat and stat disagree on device and inode");
    SYS("fstat", close(fd));
    ok("fstat");

    check_seek(a);
    check_pread_pwrite(a);
    check_append(a);
    check_truncate(a);
    check_two_fds(w);

    SYS("rename", rename(a, b));
    FAILS_WITH("rename", stat(a, &st), ENOENT);
    expect_content("rename", b, "hello\0\0\0\0\0", 10);
    write_file("rename", a, "replacement");
    SYS("rename", rename(a, b)); /* onto an existing file: replaces it */
    expect_content("rename", b, "replacement", 11);
    SYS("rename", mkdir(d1, 0755));
    SYS("rename", rename(d1, d2));
    SYS("rename", stat(d2, &st));
    CHECK("rename", S_ISDIR(st.st_mode), "renamed directory is not a directory");
    FAILS_WITH("rename", stat(d1, &st), ENOENT);
    SYS("rename", rmdir(d2));
    ok("rename");

    if (links) check_links(b, c, l);
    else check_links_refused(w, b, c, l);

    check_times(b, links ? l : NULL);

    fd = open(b, O_WRONLY);
    SYS("fsync", fd);
    write_all("fsync", fd, "synced");
    SYS("fsync", fsync(fd));
    SYS("fsync", fdatasync(fd));
    SYS("fsync", close(fd));
    ok("fsync");

    check_readdir(w, links);
    check_errors(w, b);

    SYS("unlink", unlink(b));
    if (links) {
        SYS("unlink", unlink(c));
        SYS("unlink", unlink(l));
    } else {
        FAILS_WITH("unlink", unlink(c), ENOENT); /* never created */
        FAILS_WITH("unlink", unlink(l), ENOENT);
    }
    FAILS_WITH("unlink", lstat(b, &st), ENOENT);
    FAILS_WITH("unlink", lstat(l, &st), ENOENT);
    ok("unlink");

    SYS("rmdir", rmdir(w));
    FAILS_WITH("rmdir", stat(w, &st), ENOENT);
    ok("rmdir");
    done("fs");
}

/* ---- escape attempts ---- */

static int escaped_count;

static void attempt(const char *name, int succeeded) {
    if (succeeded) {
        printf("ESCAPED %s\n", name);
        escaped_count++;
    } else {
        printf("refused %s (%s)\n", name, strerror(errno));
    }
}

static int try_open(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static int try_openat(int dfd, const char *path, int flags) {
    int fd = openat(dfd, path, flags);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/* run_escape tries to reach files outside dir, which must be the root of a
 * preopened directory. wasi-libc hands "dir/../x" to the host as "../x"
 * relative to the preopen, so the host's path resolution is what is tested. */
static int run_escape(const char *dir) {
    char path[PATH_MAX];
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) failf("escape-setup", "open %s: %s", dir, strerror(errno));

    path_join(path, sizeof path, dir, "../../etc/passwd");
    attempt("dotdot", try_open(path, O_RDONLY));
    attempt("dotdot-openat", try_openat(dfd, "../../etc/passwd", O_RDONLY));
    path_join(path, sizeof path, dir, "..");
    attempt("dotdot-dir", try_open(path, O_RDONLY | O_DIRECTORY));
    attempt("dotdot-dir-openat", try_openat(dfd, "..", O_RDONLY | O_DIRECTORY));
    struct stat st;
    attempt("dotdot-stat", fstatat(dfd, "..", &st, 0) == 0);
    attempt("absolute", try_open("/etc/passwd", O_RDONLY));
    attempt("absolute-openat", try_openat(dfd, "/etc/passwd", O_RDONLY));

    /* Writes that would land outside: each is undone if it succeeded. */
    attempt("mkdir-dotdot", mkdirat(dfd, "../donjon-escape-mkdir", 0755) == 0 &&
                                (unlinkat(dfd, "../donjon-escape-mkdir", AT_REMOVEDIR), 1));
    int fd = openat(dfd, "escape-file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) failf("escape-setup", "create escape-file: %s", strerror(errno));
    close(fd);
    attempt("rename-dotdot", renameat(dfd, "escape-file", dfd, "../donjon-escape-file") == 0 &&
                                 (renameat(dfd, "../donjon-escape-file", dfd, "escape-file"), 1));
    attempt("hardlink-dotdot", linkat(dfd, "../../etc/passwd", dfd, "escape-hardlink", 0) == 0 &&
                                   (unlinkat(dfd, "escape-hardlink", 0), 1));
    unlinkat(dfd, "escape-file", 0);

    static const struct {
        const char *name, *target, *through;
    } links[] = {
        {"symlink-abs", "/etc", "passwd"},
        {"symlink-up", "../../", "etc/passwd"},
        {"symlink-deep", "../../../../../../../../../../../../../../../../etc", "passwd"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        char link_name[64], via[128], label[64];
        snprintf(link_name, sizeof link_name, "escape-%s", links[i].name);
        unlinkat(dfd, link_name, 0); /* left over from an earlier run, if any */
        if (symlinkat(links[i].target, dfd, link_name) < 0) {
            /* Refusing to create a link that points out is a refusal too. */
            snprintf(label, sizeof label, "%s-create", links[i].name);
            attempt(label, 0);
            continue;
        }
        snprintf(via, sizeof via, "%s/%s/%s", dir, link_name, links[i].through);
        attempt(links[i].name, try_open(via, O_RDONLY));
        snprintf(via, sizeof via, "%s/%s", link_name, links[i].through);
        snprintf(label, sizeof label, "%s-openat", links[i].name);
        attempt(label, try_openat(dfd, via, O_RDONLY));
        snprintf(label, sizeof label, "%s-dir-openat", links[i].name);
        attempt(label, try_openat(dfd, link_name, O_RDONLY | O_DIRECTORY));
        snprintf(label, sizeof label, "%s-stat", links[i].name);
        attempt(label, fstatat(dfd, via, &st, 0) == 0);
        snprintf(label, sizeof label, "%s-hardlink", links[i].name);
        attempt(label, linkat(dfd, via, dfd, "escape-hardlink", AT_SYMLINK_FOLLOW) == 0 &&
                           (unlinkat(dfd, "escape-hardlink", 0), 1));
        if (unlinkat(dfd, link_name, 0) < 0) failf("escape-cleanup", "unlink %s: %s", link_name, strerror(errno));
    }
    close(dfd);
    if (escaped_count > 0) {
        printf("FAIL escape: %d attempts escaped\n", escaped_count);
        return 1;
    }
    done("escape");
    return 0;
}

/* ---- clocks, randomness, sleeping, polling ---- */

static long long ts_ns(struct timespec ts) { return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec; }

static void run_clock(int argc, char **argv) {
    struct timespec rt, a, b, res;
    SYS("realtime", clock_gettime(CLOCK_REALTIME, &rt));
    printf("info realtime %lld.%09ld\n", (long long)rt.tv_sec, rt.tv_nsec);
    /* 2020-01-01 .. 2100-01-01: catches a clock counting from zero or in the
     * wrong unit. */
    CHECK("realtime", rt.tv_sec > 1577836800LL && rt.tv_sec < 4102444800LL, "%lld is not a plausible Unix time",
          (long long)rt.tv_sec);
    ok("realtime");
    if (argc > 2) {
        long long host = int_arg(argc, argv, 2);
        long long d = (long long)rt.tv_sec - host;
        CHECK("realtime-host", d > -300 && d < 300, "guest %lld, host %lld: %lld s apart", (long long)rt.tv_sec, host,
              d);
        ok("realtime-host");
    }

    SYS("monotonic", clock_gettime(CLOCK_MONOTONIC, &a));
    long long first = ts_ns(a), prev = first;
    int advanced = 0;
    for (long i = 0; i < 100000000L && !advanced; i++) {
        SYS("monotonic", clock_gettime(CLOCK_MONOTONIC, &b));
        CHECK("monotonic", ts_ns(b) >= prev, "went back from %lld to %lld", prev, ts_ns(b));
        prev = ts_ns(b);
        advanced = prev > first;
    }
    CHECK("monotonic", advanced, "monotonic clock did not advance");
    ok("monotonic");

    struct timespec two_ms = {0, 2000000};
    SYS("monotonic-sleep", clock_gettime(CLOCK_MONOTONIC, &a));
    SYS("monotonic-sleep", nanosleep(&two_ms, NULL));
    SYS("monotonic-sleep", clock_gettime(CLOCK_MONOTONIC, &b));
    CHECK("monotonic-sleep", ts_ns(b) - ts_ns(a) >= 2000000, "slept 2 ms but the clock moved %lld ns",
          ts_ns(b) - ts_ns(a));
    ok("monotonic-sleep");

    static const struct {
        const char *name;
        clockid_t id;
    } clocks[] = {{"realtime", CLOCK_REALTIME}, {"monotonic", CLOCK_MONOTONIC}};
    for (size_t i = 0; i < 2; i++) {
        char check[32];
        snprintf(check, sizeof check, "clock-res-%s", clocks[i].name);
        SYS(check, clock_getres(clocks[i].id, &res));
        printf("info clock-res %s %lld ns\n", clocks[i].name, ts_ns(res));
        CHECK(check, ts_ns(res) > 0 && ts_ns(res) <= 1000000000LL, "resolution %lld ns is not in (0, 1 s]",
              ts_ns(res));
        ok(check);
    }
    /* CPU-time clocks are optional in WASI: report, do not judge. */
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a) == 0) printf("info process-cputime %lld ns\n", ts_ns(a));
    else printf("info process-cputime unsupported (%s)\n", strerror(errno));
    done("clock");
}

static void run_random(void) {
    unsigned char a[64], b[64], zero[64] = {0};
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
#ifdef __wasi__
    __wasi_errno_t e = __wasi_random_get(a, sizeof a);
    CHECK("random-read", e == 0, "random_get: errno %d", e);
#else
    SYS("random-read", getentropy(a, sizeof a));
#endif
    SYS("random-read", getentropy(b, sizeof b));
    ok("random-read");
    CHECK("random-nonzero", memcmp(a, zero, 64) != 0 && memcmp(b, zero, 64) != 0, "64 random bytes are all zero");
    ok("random-nonzero");
    CHECK("random-differ", memcmp(a, b, 64) != 0, "two random reads returned the same 64 bytes");
    ok("random-differ");
    printf("info random %02x%02x%02x%02x%02x%02x%02x%02x\n", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
    done("random");
}

static long long monotonic_ns(void) {
    struct timespec ts;
    SYS("clock", clock_gettime(CLOCK_MONOTONIC, &ts));
    return ts_ns(ts);
}

static void report_sleep(const char *check, long ms, long long start) {
    long long elapsed = monotonic_ns() - start;
    printf("slept ms=%lld\n", elapsed / 1000000);
    CHECK(check, elapsed >= ms * 1000000LL, "asked for %ld ms, woke after %lld ns", ms, elapsed);
    ok(check);
    done(check);
}

static void run_sleep(long ms) {
    long long start = monotonic_ns();
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    SYS("sleep", nanosleep(&ts, NULL));
    report_sleep("sleep", ms, start);
}

static void run_sleep_poll(long ms) {
    long long start = monotonic_ns();
    int r = poll(NULL, 0, (int)ms);
    CHECK("sleep-poll", r == 0, "poll with no descriptors returned %d: %s", r, strerror(errno));
    report_sleep("sleep-poll", ms, start);
}

static void run_poll_stdin(long ms) {
    struct pollfd p = {.fd = 0, .events = POLLIN};
    int r = poll(&p, 1, (int)ms);
    SYS("poll-stdin", r);
    if (r == 0) {
        puts("timeout");
    } else {
        CHECK("poll-stdin", p.revents & (POLLIN | POLLHUP), "poll returned %d with revents %#x", r, p.revents);
        puts("ready");
    }
}

static void run_poll_stdout(void) {
    struct pollfd p = {.fd = 1, .events = POLLOUT};
    int r = poll(&p, 1, 10000);
    CHECK("poll-stdout", r == 1 && (p.revents & POLLOUT), "poll returned %d with revents %#x", r, p.revents);
    puts("writable");
}

static void run_cat(void) {
    static char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) {
            fprintf(stderr, "cat: read: %s\n", strerror(errno));
            exit(1);
        }
        if (n == 0) return;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w < 0) {
                fprintf(stderr, "cat: write: %s\n", strerror(errno));
                exit(1);
            }
            off += w;
        }
    }
}

/* alloc_kept holds the blocks alloc_forever allocates, chained through
 * their first word; being volatile and global, it keeps the compiler from
 * eliding allocations that are otherwise never read. */
static void *volatile alloc_kept;

static void alloc_forever(void) {
    const size_t block = 1 << 20;
    for (long mib = 1;; mib++) {
        char *p = malloc(block);
        if (!p) {
            printf("alloc-failed MiB=%ld\n", mib - 1);
            exit(3);
        }
        /* Touch every page so the memory is really committed. */
        for (size_t i = 0; i < block; i += 4096) p[i] = (char)mib;
        *(void **)p = alloc_kept;
        alloc_kept = p;
        if (mib % 16 == 0) printf("allocated %ld MiB\n", mib);
    }
}

static void loop_forever(void) {
    puts("looping");
    fflush(stdout);
    volatile uint64_t x = 1;
    for (;;) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
}

static void div0(int argc, char **argv) {
    volatile int d = argc > 2 ? (int)int_arg(argc, argv, 2) : 0;
    printf("dividing by %d\n", d);
    fflush(stdout);
    printf("%d\n", 100 / d);
}

/* ---- raw WASI calls that libc does not reach ---- */

#ifdef __wasi__

__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_raise"))) uint16_t
raw_proc_raise(uint32_t sig);

#define WASI_OK(check, expr)                                                                       \
    do {                                                                                           \
        __wasi_errno_t e_ = (expr);                                                                \
        if (e_ != 0) failf(check, "%s: errno %d", #expr, e_);                                      \
    } while (0)

#define WASI_ERR(check, expr, want)                                                                \
    do {                                                                                           \
        __wasi_errno_t e_ = (expr);                                                                \
        if (e_ != (want)) failf(check, "%s: errno %d, want %d", #expr, e_, want);                  \
    } while (0)

/* preopen_fd finds the preopened directory named dir. */
static __wasi_fd_t preopen_fd(const char *dir) {
    for (__wasi_fd_t fd = 3; fd < 1024; fd++) {
        __wasi_prestat_t ps;
        __wasi_errno_t e = __wasi_fd_prestat_get(fd, &ps);
        if (e == __WASI_ERRNO_BADF) break;
        if (e != 0 || ps.tag != __WASI_PREOPENTYPE_DIR) continue;
        char name[PATH_MAX];
        if (ps.u.dir.pr_name_len >= sizeof name) continue;
        WASI_OK("prestat", __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, ps.u.dir.pr_name_len));
        name[ps.u.dir.pr_name_len] = '\0';
        if (strcmp(name, dir) == 0) return fd;
    }
    failf("prestat", "%s is not a preopened directory", dir);
}

static void run_preopens(void) {
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t ps;
        __wasi_errno_t e = __wasi_fd_prestat_get(fd, &ps);
        if (e == __WASI_ERRNO_BADF) break;
        if (e != 0) {
            printf("info fd %u prestat errno %d\n", fd, e);
            continue;
        }
        char name[PATH_MAX];
        CHECK("prestat", ps.u.dir.pr_name_len < sizeof name, "name of %lu bytes", (unsigned long)ps.u.dir.pr_name_len);
        WASI_OK("prestat", __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, ps.u.dir.pr_name_len));
        name[ps.u.dir.pr_name_len] = '\0';
        printf("preopen %u %s\n", fd, name);
    }
    done("preopens");
}

static __wasi_filestat_t fstat_raw(const char *check, __wasi_fd_t fd) {
    __wasi_filestat_t st;
    WASI_OK(check, __wasi_fd_filestat_get(fd, &st));
    return st;
}

static __wasi_fd_t open_raw(const char *check, __wasi_fd_t dir, const char *path, __wasi_oflags_t oflags,
                            __wasi_fdflags_t fdflags) {
    __wasi_fd_t fd;
    __wasi_rights_t all = ~(__wasi_rights_t)0;
    /* A directory cannot be opened for writing: ask for none of the rights
     * that need it. */
    __wasi_rights_t write_rights =
        __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE;
    __wasi_rights_t base = oflags & __WASI_OFLAGS_DIRECTORY ? all & ~write_rights : all;
    WASI_OK(check, __wasi_path_open(dir, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, oflags, base, all, fdflags, &fd));
    return fd;
}

static void write_raw(const char *check, __wasi_fd_t fd, const char *s) {
    size_t len = strlen(s);
    __wasi_ciovec_t iov = {(const uint8_t *)s, len};
    __wasi_size_t n;
    WASI_OK(check, __wasi_fd_write(fd, &iov, 1, &n));
    CHECK(check, n == len, "wrote %lu of %zu bytes", (unsigned long)n, len);
}

/* readdir_raw lists dir from cookie with fd_readdir into names (one per
 * 64-byte slot) and next cookies, handling partial buffers; returns the
 * count, or minus the errno. */
static int readdir_raw(__wasi_fd_t dir, __wasi_dircookie_t cookie, char names[][64], __wasi_dircookie_t *nexts,
                       int max) {
    static uint8_t buf[256]; /* small, so that several calls are needed */
    int count = 0;
    for (;;) {
        __wasi_size_t used;
        __wasi_errno_t e = __wasi_fd_readdir(dir, buf, sizeof buf, cookie, &used);
        if (e != 0) return -(int)e;
        size_t off = 0;
        int progressed = 0;
        while (off + sizeof(__wasi_dirent_t) <= used) {
            __wasi_dirent_t ent;
            memcpy(&ent, buf + off, sizeof ent);
            if (off + sizeof ent + ent.d_namlen > used) break; /* truncated: reread from cookie */
            CHECK("readdir-cookie", ent.d_namlen < 64 && count < max, "entry too long or too many entries");
            memcpy(names[count], buf + off + sizeof ent, ent.d_namlen);
            names[count][ent.d_namlen] = '\0';
            nexts[count] = ent.d_next;
            cookie = ent.d_next;
            count++;
            progressed = 1;
            off += sizeof ent + ent.d_namlen;
        }
        if (used < sizeof buf) return count;
        CHECK("readdir-cookie", progressed, "a %zu-byte buffer holds no whole entry", sizeof buf);
    }
}

static void run_wasi_fd(const char *dir) {
    __wasi_fd_t root = preopen_fd(dir);
    printf("info preopen %s fd %u\n", dir, root);
    ok("prestat");

    /* Clean up after an earlier failed run. */
    (void)__wasi_path_unlink_file(root, "wasi-fd.a");
    (void)__wasi_path_unlink_file(root, "wasi-fd.b");
    (void)__wasi_path_unlink_file(root, "wasi-fd.link");
    (void)__wasi_path_unlink_file(root, "wasi-fd.c");
    (void)__wasi_path_unlink_file(root, "wasi-fd.d");
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "wasi-fd.dir/file-%02d", i);
        (void)__wasi_path_unlink_file(root, name);
    }
    (void)__wasi_path_remove_directory(root, "wasi-fd.dir");
    __wasi_fd_t fd = open_raw("path-open", root, "wasi-fd.a", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0);
    ok("path-open");

    __wasi_fdstat_t fds;
    WASI_OK("fdstat", __wasi_fd_fdstat_get(fd, &fds));
    CHECK("fdstat", fds.fs_filetype == __WASI_FILETYPE_REGULAR_FILE, "filetype %u", fds.fs_filetype);
    CHECK("fdstat", (fds.fs_flags & __WASI_FDFLAGS_APPEND) == 0, "append set on a fresh file");
    WASI_OK("fdstat", __wasi_fd_fdstat_get(root, &fds));
    CHECK("fdstat", fds.fs_filetype == __WASI_FILETYPE_DIRECTORY, "preopen filetype %u", fds.fs_filetype);
    ok("fdstat");

    __wasi_ciovec_t two[2] = {{(const uint8_t *)"0123", 4}, {(const uint8_t *)"4567", 4}};
    __wasi_size_t n;
    WASI_OK("write-iovecs", __wasi_fd_write(fd, two, 2, &n));
    CHECK("write-iovecs", n == 8, "wrote %lu of 8", (unsigned long)n);
    ok("write-iovecs");

    __wasi_filesize_t pos;
    WASI_OK("tell", __wasi_fd_tell(fd, &pos));
    CHECK("tell", pos == 8, "position %llu, want 8", (unsigned long long)pos);
    WASI_OK("tell", __wasi_fd_seek(fd, 2, __WASI_WHENCE_SET, &pos));
    WASI_OK("tell", __wasi_fd_tell(fd, &pos));
    CHECK("tell", pos == 2, "position %llu after seek, want 2", (unsigned long long)pos);
    ok("tell");

    uint8_t x[4] = {0}, y[4] = {0};
    __wasi_iovec_t rd[2] = {{x, 3}, {y, 3}};
    WASI_OK("pread-iovecs", __wasi_fd_pread(fd, rd, 2, 1, &n));
    CHECK("pread-iovecs", n == 6 && memcmp(x, "123", 3) == 0 && memcmp(y, "456", 3) == 0, "read %lu: %s %s", (unsigned long)n,
          (char *)x, (char *)y);
    __wasi_ciovec_t wr[2] = {{(const uint8_t *)"ab", 2}, {(const uint8_t *)"cd", 2}};
    WASI_OK("pread-iovecs", __wasi_fd_pwrite(fd, wr, 2, 6, &n));
    CHECK("pread-iovecs", n == 4 && fstat_raw("pread-iovecs", fd).size == 10, "pwrite %lu", (unsigned long)n);
    WASI_OK("pread-iovecs", __wasi_fd_tell(fd, &pos));
    CHECK("pread-iovecs", pos == 2, "positional I/O moved the offset to %llu", (unsigned long long)pos);
    ok("pread-iovecs");

    WASI_OK("advise", __wasi_fd_advise(fd, 0, 10, __WASI_ADVICE_SEQUENTIAL));
    WASI_OK("advise", __wasi_fd_advise(fd, 0, 0, __WASI_ADVICE_DONTNEED));
    ok("advise");

    WASI_OK("allocate", __wasi_fd_allocate(fd, 0, 4096));
    __wasi_filestat_t st = fstat_raw("allocate", fd);
    CHECK("allocate", st.size == 4096, "size %llu after allocate(0, 4096), want 4096", (unsigned long long)st.size);
    WASI_OK("allocate", __wasi_fd_allocate(fd, 0, 100));
    st = fstat_raw("allocate", fd);
    CHECK("allocate", st.size == 4096, "allocate shrank the file to %llu", (unsigned long long)st.size);
    ok("allocate");

    WASI_OK("filestat-set-size", __wasi_fd_filestat_set_size(fd, 3));
    st = fstat_raw("filestat-set-size", fd);
    CHECK("filestat-set-size", st.size == 3 && st.filetype == __WASI_FILETYPE_REGULAR_FILE, "size %llu type %u",
          (unsigned long long)st.size, st.filetype);
    ok("filestat-set-size");

    WASI_OK("sync", __wasi_fd_sync(fd));
    WASI_OK("sync", __wasi_fd_datasync(fd));
    ok("sync");

    WASI_OK("fdstat-set-flags", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND));
    WASI_OK("fdstat-set-flags", __wasi_fd_fdstat_get(fd, &fds));
    CHECK("fdstat-set-flags", fds.fs_flags & __WASI_FDFLAGS_APPEND, "append flag not reported: %#x", fds.fs_flags);
    WASI_OK("fdstat-set-flags", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos));
    write_raw("fdstat-set-flags", fd, "Z");
    uint8_t got[8] = {0};
    __wasi_iovec_t giov = {got, sizeof got};
    WASI_OK("fdstat-set-flags", __wasi_fd_pread(fd, &giov, 1, 0, &n));
    CHECK("fdstat-set-flags", n == 4 && memcmp(got, "012Z", 4) == 0, "file holds %lu bytes \"%.*s\", want \"012Z\"",
          (unsigned long)n, (int)n, (char *)got);
    WASI_OK("fdstat-set-flags", __wasi_fd_fdstat_set_flags(fd, 0));
    ok("fdstat-set-flags");

    /* Times: mtime only, then atime "now" on the fd. */
    WASI_OK("path-filestat-set-times",
            __wasi_path_filestat_set_times(root, 0, "wasi-fd.a", 111000000000ULL, 222000000000ULL,
                                           __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
    WASI_OK("path-filestat-set-times",
            __wasi_path_filestat_set_times(root, 0, "wasi-fd.a", 0, 333000000000ULL, __WASI_FSTFLAGS_MTIM));
    st = fstat_raw("path-filestat-set-times", fd);
    CHECK("path-filestat-set-times", st.atim == 111000000000ULL && st.mtim == 333000000000ULL, "atim %llu mtim %llu",
          (unsigned long long)st.atim, (unsigned long long)st.mtim);
    ok("path-filestat-set-times");
    WASI_OK("fd-filestat-set-times", __wasi_fd_filestat_set_times(fd, 0, 444000000000ULL, __WASI_FSTFLAGS_ATIM_NOW |
                                                                                          __WASI_FSTFLAGS_MTIM));
    st = fstat_raw("fd-filestat-set-times", fd);
    CHECK("fd-filestat-set-times", st.mtim == 444000000000ULL && st.atim > 1577836800000000000ULL,
          "atim %llu mtim %llu", (unsigned long long)st.atim, (unsigned long long)st.mtim);
    WASI_ERR("fd-filestat-set-times",
             __wasi_fd_filestat_set_times(fd, 1, 1, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW),
             __WASI_ERRNO_INVAL);
    ok("fd-filestat-set-times");

    /* A symlink, looked up with and without following it. */
    WASI_OK("path-filestat-get", __wasi_path_symlink("wasi-fd.a", root, "wasi-fd.link"));
    WASI_OK("path-filestat-get",
            __wasi_path_filestat_get(root, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "wasi-fd.link", &st));
    CHECK("path-filestat-get", st.filetype == __WASI_FILETYPE_REGULAR_FILE && st.size == 4, "followed: type %u size %llu",
          st.filetype, (unsigned long long)st.size);
    WASI_OK("path-filestat-get", __wasi_path_filestat_get(root, 0, "wasi-fd.link", &st));
    CHECK("path-filestat-get", st.filetype == __WASI_FILETYPE_SYMBOLIC_LINK, "not followed: type %u", st.filetype);
    uint8_t target[32];
    WASI_OK("path-filestat-get", __wasi_path_readlink(root, "wasi-fd.link", target, sizeof target, &n));
    CHECK("path-filestat-get", n == 9 && memcmp(target, "wasi-fd.a", 9) == 0, "readlink %lu bytes", (unsigned long)n);
    ok("path-filestat-get");

    /* fd_renumber: b's file moves to a's number; b's number is closed. */
    __wasi_fd_t fd_b = open_raw("renumber", root, "wasi-fd.b", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0);
    write_raw("renumber", fd_b, "bee");
    WASI_OK("renumber", __wasi_fd_renumber(fd_b, fd));
    WASI_ERR("renumber", __wasi_fd_close(fd_b), __WASI_ERRNO_BADF);
    giov.buf_len = sizeof got;
    memset(got, 0, sizeof got);
    WASI_OK("renumber", __wasi_fd_pread(fd, &giov, 1, 0, &n));
    CHECK("renumber", n == 3 && memcmp(got, "bee", 3) == 0, "after renumber read \"%.*s\"", (int)n, (char *)got);
    WASI_ERR("renumber", __wasi_fd_renumber(1000, fd), __WASI_ERRNO_BADF);
    ok("renumber");

    /* fd_readdir: a small buffer forces partial reads; every cookie must
     * resume right after its entry. */
    WASI_OK("readdir-cookie", __wasi_path_create_directory(root, "wasi-fd.dir"));
    __wasi_fd_t dir_fd = open_raw("readdir-cookie", root, "wasi-fd.dir", __WASI_OFLAGS_DIRECTORY, 0);
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "file-%02d", i);
        WASI_OK("readdir-cookie", __wasi_fd_close(open_raw("readdir-cookie", dir_fd, name, __WASI_OFLAGS_CREAT, 0)));
    }
    static char names[64][64], again[64][64];
    static __wasi_dircookie_t nexts[64], nexts2[64];
    int count = readdir_raw(dir_fd, __WASI_DIRCOOKIE_START, names, nexts, 64);
    CHECK("readdir-cookie", count >= 0, "fd_readdir: errno %d", -count);
    int files = 0;
    for (int i = 0; i < count; i++) files += strncmp(names[i], "file-", 5) == 0;
    CHECK("readdir-cookie", files == 20, "listed %d of 20 files (%d entries)", files, count);
    ok("readdir-cookie");
    int resumed = 1;
    for (int i = 0; i + 1 < count && resumed; i++) {
        int rest = readdir_raw(dir_fd, nexts[i], again, nexts2, 64);
        if (rest != count - i - 1 || strcmp(again[0], names[i + 1]) != 0) {
            soft_failf("readdir-cookie-resume", "from cookie %d: %d entries starting \"%s\", want %d starting \"%s\"",
                       i, rest, rest > 0 ? again[0] : "", count - i - 1, names[i + 1]);
            resumed = 0;
        }
    }
    if (resumed) ok("readdir-cookie-resume");
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "file-%02d", i);
        WASI_OK("readdir-cookie", __wasi_path_unlink_file(dir_fd, name));
    }
    WASI_OK("readdir-cookie", __wasi_fd_close(dir_fd));
    WASI_OK("readdir-cookie", __wasi_path_remove_directory(root, "wasi-fd.dir"));

    WASI_OK("path-rename", __wasi_path_rename(root, "wasi-fd.b", root, "wasi-fd.c"));
    WASI_ERR("path-rename", __wasi_path_filestat_get(root, 0, "wasi-fd.b", &st), __WASI_ERRNO_NOENT);
    WASI_OK("path-link", __wasi_path_link(root, 0, "wasi-fd.c", root, "wasi-fd.d"));
    WASI_OK("path-link", __wasi_path_filestat_get(root, 0, "wasi-fd.d", &st));
    CHECK("path-link", st.nlink == 2, "nlink %llu", (unsigned long long)st.nlink);
    ok("path-rename");
    ok("path-link");

    WASI_OK("path-unlink", __wasi_path_unlink_file(root, "wasi-fd.a"));
    WASI_OK("path-unlink", __wasi_path_unlink_file(root, "wasi-fd.c"));
    WASI_OK("path-unlink", __wasi_path_unlink_file(root, "wasi-fd.d"));
    WASI_OK("path-unlink", __wasi_path_unlink_file(root, "wasi-fd.link"));
    ok("path-unlink");

    WASI_ERR("bad-fd", __wasi_fd_fdstat_get(1000, &fds), __WASI_ERRNO_BADF);
    WASI_ERR("bad-fd", __wasi_fd_write(1000, two, 1, &n), __WASI_ERRNO_BADF);
    WASI_ERR("bad-fd", __wasi_path_open(1000, 0, "x", 0, 0, 0, 0, &fd_b), __WASI_ERRNO_BADF);
    ok("bad-fd");

    /* Renumbering onto a number that is not open must fail: WASI offers no
     * dup2 to arbitrary numbers. Last, because runtimes differ here. */
    __wasi_errno_t e = __wasi_fd_renumber(fd, 1000);
    if (e == __WASI_ERRNO_BADF) {
        WASI_OK("renumber-unopened", __wasi_fd_close(fd));
        ok("renumber-unopened");
    } else {
        soft_failf("renumber-unopened", "fd_renumber(%u, 1000): errno %d, want %d", fd, e, __WASI_ERRNO_BADF);
        (void)__wasi_fd_close(e == 0 ? 1000 : fd);
    }
    done("wasi-fd");
}

static void run_rights(const char *dir) {
    __wasi_fd_t root = preopen_fd(dir);
    __wasi_fd_t fd = open_raw("rights", root, "rights.tmp", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0);
    __wasi_fdstat_t fds;
    WASI_OK("rights", __wasi_fd_fdstat_get(fd, &fds));
    printf("info rights base %#llx inheriting %#llx\n", (unsigned long long)fds.fs_rights_base,
           (unsigned long long)fds.fs_rights_inheriting);
    __wasi_rights_t fewer = fds.fs_rights_base & ~(__wasi_rights_t)__WASI_RIGHTS_FD_WRITE;
    WASI_OK("rights", __wasi_fd_fdstat_set_rights(fd, fewer, 0));
    ok("rights");
    /* Whether rights are enforced is up to the runtime (WASI has since
     * dropped them): report it, do not judge. */
    __wasi_ciovec_t iov = {(const uint8_t *)"x", 1};
    __wasi_size_t n;
    printf("info write-after-drop errno %d\n", __wasi_fd_write(fd, &iov, 1, &n));
    WASI_OK("rights", __wasi_fd_close(fd));
    WASI_OK("rights", __wasi_path_unlink_file(root, "rights.tmp"));
    done("rights");
}

static void run_raise(long sig) {
    printf("raising %ld\n", sig);
    fflush(stdout);
    printf("info proc_raise returned errno %u\n", raw_proc_raise((uint32_t)sig));
    done("raise");
}

static void run_yield(void) {
    WASI_OK("yield", __wasi_sched_yield());
    ok("yield");
    done("yield");
}

/* SOFT reports check as passed or (softly) failed. */
#define SOFT(check, cond, ...)                                                                     \
    do {                                                                                           \
        if (cond) ok(check);                                                                       \
        else soft_failf(check, __VA_ARGS__);                                                       \
    } while (0)

static __wasi_subscription_t clock_sub(__wasi_userdata_t userdata, __wasi_clockid_t id, __wasi_timestamp_t timeout,
                                       __wasi_subclockflags_t flags) {
    __wasi_subscription_t sub;
    memset(&sub, 0, sizeof sub);
    sub.userdata = userdata;
    sub.u.tag = __WASI_EVENTTYPE_CLOCK;
    sub.u.u.clock.id = id;
    sub.u.u.clock.timeout = timeout;
    sub.u.u.clock.flags = flags;
    return sub;
}

/* find_event returns the event for userdata among n events, or NULL. */
static const __wasi_event_t *find_event(const __wasi_event_t *events, __wasi_size_t n, __wasi_userdata_t userdata) {
    for (__wasi_size_t i = 0; i < n; i++)
        if (events[i].userdata == userdata) return &events[i];
    return NULL;
}

/* run_poll_oneoff checks poll_oneoff directly: of several clock
 * subscriptions only the due one fires, absolute and past deadlines work,
 * and a writable descriptor is reported. The checks are independent. */
static void run_poll_oneoff(void) {
    __wasi_subscription_t subs[2];
    __wasi_event_t events[2];
    __wasi_size_t n = 0;
    __wasi_errno_t e;

    subs[0] = clock_sub(1, __WASI_CLOCKID_MONOTONIC, 1000000, 0);          /* 1 ms */
    subs[1] = clock_sub(2, __WASI_CLOCKID_MONOTONIC, 3600000000000ULL, 0); /* an hour */
    memset(events, 0, sizeof events);
    e = __wasi_poll_oneoff(subs, events, 2, &n);
    SOFT("poll-oneoff-clocks",
         e == 0 && n == 1 && events[0].userdata == 1 && events[0].error == 0 &&
             events[0].type == __WASI_EVENTTYPE_CLOCK,
         "errno %d, %lu events, first userdata %llu error %u type %u", e, (unsigned long)n,
         (unsigned long long)events[0].userdata, events[0].error, events[0].type);

    __wasi_timestamp_t now = 0, after = 0;
    WASI_OK("poll-oneoff-abstime", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &now));
    subs[0] = clock_sub(7, __WASI_CLOCKID_REALTIME, now + 2000000, __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME);
    e = __wasi_poll_oneoff(subs, events, 1, &n);
    WASI_OK("poll-oneoff-abstime", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &after));
    SOFT("poll-oneoff-abstime", e == 0 && n == 1 && events[0].userdata == 7 && after >= now + 2000000,
         "errno %d, %lu events, woke %lld ns before the deadline", e, (unsigned long)n,
         (long long)(now + 2000000) - (long long)after);

    /* A deadline already past fires at once. */
    subs[0] = clock_sub(8, __WASI_CLOCKID_REALTIME, now - 1000000000ULL, __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME);
    e = __wasi_poll_oneoff(subs, events, 1, &n);
    SOFT("poll-oneoff-past", e == 0 && n == 1 && events[0].userdata == 8, "errno %d, %lu events", e, (unsigned long)n);

    /* stdout is writable: an fd_write subscription fires before a 5 s
     * clock, which is only there so a runtime that never reports
     * writability cannot hang the guest. */
    memset(subs, 0, sizeof subs);
    memset(events, 0, sizeof events);
    subs[0].userdata = 9;
    subs[0].u.tag = __WASI_EVENTTYPE_FD_WRITE;
    subs[0].u.u.fd_write.file_descriptor = 1;
    subs[1] = clock_sub(99, __WASI_CLOCKID_MONOTONIC, 5000000000ULL, 0);
    e = __wasi_poll_oneoff(subs, events, 2, &n);
    const __wasi_event_t *ev = e == 0 ? find_event(events, n, 9) : NULL;
    SOFT("poll-oneoff-write",
         ev && ev->type == __WASI_EVENTTYPE_FD_WRITE && ev->error == 0 && !find_event(events, n, 99),
         "errno %d, %lu events, write event %s, error %u, clock fired %d", e, (unsigned long)n, ev ? "present" : "missing",
         ev ? ev->error : 0, find_event(events, n, 99) != NULL);

    /* A subscription on a closed descriptor reports EBADF in its event
     * (again with a safety clock). */
    subs[0].userdata = 10;
    subs[0].u.tag = __WASI_EVENTTYPE_FD_READ;
    subs[0].u.u.fd_read.file_descriptor = 1000;
    memset(events, 0, sizeof events);
    e = __wasi_poll_oneoff(subs, events, 2, &n);
    ev = e == 0 ? find_event(events, n, 10) : NULL;
    SOFT("poll-oneoff-badf", ev && ev->error == __WASI_ERRNO_BADF, "errno %d, %lu events, event %s, error %u", e,
         (unsigned long)n, ev ? "present" : "missing", ev ? ev->error : 0);

    e = __wasi_poll_oneoff(subs, events, 0, &n);
    SOFT("poll-oneoff-empty", e == __WASI_ERRNO_INVAL, "no subscriptions: errno %d, want %d", e, __WASI_ERRNO_INVAL);
    done("poll-oneoff");
}

/* wait_readable waits in poll_oneoff until fd can be read, or 100 ms have
 * passed: the callers retry, so a runtime that cannot poll sockets makes
 * the guest spin slowly instead of hanging. */
static void wait_readable(const char *check, __wasi_fd_t fd) {
    __wasi_subscription_t subs[2];
    __wasi_event_t events[2];
    __wasi_size_t n;
    memset(subs, 0, sizeof subs);
    subs[0].u.tag = __WASI_EVENTTYPE_FD_READ;
    subs[0].u.u.fd_read.file_descriptor = fd;
    subs[1] = clock_sub(1, __WASI_CLOCKID_MONOTONIC, 100000000, 0);
    WASI_OK(check, __wasi_poll_oneoff(subs, events, 2, &n));
}

/* run_serve answers one connection on a preopened listening socket. Debian's
 * wasi-libc has no accept(), so this speaks sock_* directly. */
static void run_serve(long listen_fd) {
    __wasi_fd_t conn;
    puts("listening");
    fflush(stdout);
    for (;;) {
        __wasi_errno_t e = __wasi_sock_accept((__wasi_fd_t)listen_fd, __WASI_FDFLAGS_NONBLOCK, &conn);
        if (e == __WASI_ERRNO_AGAIN) {
            wait_readable("serve-accept", (__wasi_fd_t)listen_fd);
            continue;
        }
        CHECK("serve-accept", e == 0, "sock_accept: errno %d", e);
        break;
    }
    char line[256];
    size_t len = 0;
    while (len < sizeof line - 1 && (len == 0 || line[len - 1] != '\n')) {
        __wasi_iovec_t iov = {(uint8_t *)line + len, sizeof line - 1 - len};
        __wasi_size_t n;
        __wasi_roflags_t flags;
        __wasi_errno_t e = __wasi_sock_recv(conn, &iov, 1, 0, &n, &flags);
        if (e == __WASI_ERRNO_AGAIN) {
            wait_readable("serve-recv", conn);
            continue;
        }
        CHECK("serve-recv", e == 0, "sock_recv: errno %d", e);
        if (n == 0) break;
        len += n;
    }
    line[len] = '\0';
    char reply[300];
    int rlen = snprintf(reply, sizeof reply, "echo: %s", line);
    for (int off = 0; off < rlen;) {
        __wasi_ciovec_t iov = {(const uint8_t *)reply + off, (size_t)(rlen - off)};
        __wasi_size_t n;
        __wasi_errno_t e = __wasi_sock_send(conn, &iov, 1, 0, &n);
        if (e == __WASI_ERRNO_AGAIN) continue;
        CHECK("serve-send", e == 0, "sock_send: errno %d", e);
        off += (int)n;
    }
    WASI_OK("serve-shutdown", __wasi_sock_shutdown(conn, __WASI_SDFLAGS_WR));
    WASI_OK("serve-close", __wasi_fd_close(conn));
    ok("serve");
    done("serve");
}

#else /* native build: the raw WASI subcommands do not exist */

static void not_native(void) {
    fputs("this subcommand needs WASI\n", stderr);
    exit(64);
}
static void run_preopens(void) { not_native(); }
static void run_wasi_fd(const char *dir) { (void)dir; not_native(); }
static void run_rights(const char *dir) { (void)dir; not_native(); }
static void run_raise(long sig) { (void)sig; not_native(); }
static void run_yield(void) { not_native(); }
static void run_poll_oneoff(void) { not_native(); }
static void run_serve(long fd) { (void)fd; not_native(); }

#endif

int main(int argc, char **argv) {
    /* Line-buffered, so output before a trap or a kill is not lost. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) usage_exit();
    const char *cmd = argv[1];
    if (strcmp(cmd, "args") == 0) print_json_array(argv, (size_t)argc);
    else if (strcmp(cmd, "env") == 0) run_env();
    else if (strcmp(cmd, "fs") == 0) {
        if (argc > 4 || (argc == 4 && strcmp(argv[3], "nolinks") != 0)) usage_exit();
        run_fs(dir_arg(argc, argv), argc < 4);
    }
    else if (strcmp(cmd, "wasi-fd") == 0) run_wasi_fd(dir_arg(argc, argv));
    else if (strcmp(cmd, "rights") == 0) run_rights(dir_arg(argc, argv));
    else if (strcmp(cmd, "preopens") == 0) run_preopens();
    else if (strcmp(cmd, "escape") == 0) return run_escape(dir_arg(argc, argv));
    else if (strcmp(cmd, "clock") == 0) run_clock(argc, argv);
    else if (strcmp(cmd, "random") == 0) run_random();
    else if (strcmp(cmd, "sleep") == 0) run_sleep(int_arg(argc, argv, 2));
    else if (strcmp(cmd, "sleep-poll") == 0) run_sleep_poll(int_arg(argc, argv, 2));
    else if (strcmp(cmd, "poll-stdin") == 0) run_poll_stdin(int_arg(argc, argv, 2));
    else if (strcmp(cmd, "poll-stdout") == 0) run_poll_stdout();
    else if (strcmp(cmd, "poll-oneoff") == 0) run_poll_oneoff();
    else if (strcmp(cmd, "yield") == 0) run_yield();
    else if (strcmp(cmd, "raise") == 0) run_raise(int_arg(argc, argv, 2));
    else if (strcmp(cmd, "cat") == 0) run_cat();
    else if (strcmp(cmd, "exit") == 0) exit((int)int_arg(argc, argv, 2));
    else if (strcmp(cmd, "trap") == 0) {
        puts("trapping");
        fflush(stdout);
        __builtin_trap();
    } else if (strcmp(cmd, "div0") == 0) div0(argc, argv);
    else if (strcmp(cmd, "alloc-forever") == 0) alloc_forever();
    else if (strcmp(cmd, "loop-forever") == 0) loop_forever();
    else if (strcmp(cmd, "serve") == 0) run_serve(int_arg(argc, argv, 2));
    else usage_exit();
    return 0;
}
