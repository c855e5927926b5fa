/*
 * The C half of donjon's compute benchmark guests. The same source builds
 * to wasm (clang --target=wasm32-wasi --sysroot=/usr -O2) and natively
 * (cc -O2), and computes exactly what ../go/compute computes, so outputs can
 * be compared byte for byte across languages and between native and wasm.
 *
 *   compute sha256 MB   SHA-256 of MB MiB of generated data, as hex
 *   compute sieve N     the number of primes below N
 *   compute matmul N    the sum of all entries of A*B for N x N matrices
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: compute sha256 MB | sieve N | matmul N\n";

/* ---- SHA-256 (FIPS 180-4), written out so native and wasm run the same code ---- */

struct sha256 {
    uint32_t h[8];
    uint8_t block[64];
    size_t filled;
    uint64_t length;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void sha256_init(struct sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->filled = 0;
    s->length = 0;
}

static void sha256_compress(struct sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = load_be32(p + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

static void sha256_write(struct sha256 *s, const uint8_t *p, size_t n) {
    s->length += n;
    if (s->filled > 0) {
        size_t take = 64 - s->filled < n ? 64 - s->filled : n;
        memcpy(s->block + s->filled, p, take);
        s->filled += take;
        p += take;
        n -= take;
        if (s->filled < 64) return;
        sha256_compress(s, s->block);
        s->filled = 0;
    }
    for (; n >= 64; p += 64, n -= 64) sha256_compress(s, p);
    memcpy(s->block, p, n);
    s->filled = n;
}

static void sha256_sum(struct sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->length * 8;
    uint8_t pad[72] = {0x80};
    size_t pad_len = (64 - (s->filled + 9) % 64) % 64;
    for (int i = 0; i < 8; i++) pad[1 + pad_len + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_write(s, pad, 1 + pad_len + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* sha256_generated hashes mb MiB of the xorshift64 stream that starts at
 * 0x9E3779B97F4A7C15, each 64-bit word stored little-endian. */
static void sha256_generated(long mb) {
    enum { chunk = 1 << 20 };
    static uint8_t buf[chunk];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    struct sha256 s;
    sha256_init(&s);
    for (long m = 0; m < mb; m++) {
        for (size_t i = 0; i < chunk; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for (int b = 0; b < 8; b++) buf[i + b] = (uint8_t)(x >> (8 * b));
        }
        sha256_write(&s, buf, chunk);
    }
    uint8_t out[32];
    sha256_sum(&s, out);
    for (int i = 0; i < 32; i++) printf("%02x", out[i]);
    printf("\n");
}

/* sieve counts the primes below n with the sieve of Eratosthenes. */
static long sieve(long n) {
    if (n < 3) return 0;
    char *composite = calloc((size_t)n, 1);
    if (!composite) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    long count = 0;
    for (long i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        /* 64-bit: long is 32 bits on wasm32, and i*i overflows it. */
        for (int64_t j = (int64_t)i * i; j < n; j += i) composite[j] = 1;
    }
    free(composite);
    return count;
}

/* matmul multiplies two n x n matrices of small whole numbers, so every sum
 * is exact in double and the result does not depend on rounding, and
 * returns the sum of the product's entries. */
static long long matmul(long n) {
    size_t nn = (size_t)n * (size_t)n;
    double *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = calloc(nn, sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (long i = 0; i < n; i++) {
        for (long j = 0; j < n; j++) {
            a[i * n + j] = (double)((i + j) % 10);
            b[i * n + j] = (double)((2 * i + j) % 7);
        }
    }
    for (long i = 0; i < n; i++) {
        for (long k = 0; k < n; k++) {
            double aik = a[i * n + k];
            const double *row = b + k * n;
            double *out = c + i * n;
            for (long j = 0; j < n; j++) out[j] += aik * row[j];
        }
    }
    double sum = 0;
    for (size_t i = 0; i < nn; i++) sum += c[i];
    free(a);
    free(b);
    free(c);
    return (long long)sum;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs(usage, stderr);
        return 64;
    }
    char *end;
    errno = 0;
    long n = strtol(argv[2], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[2] || n < 0) {
        fprintf(stderr, "not a non-negative integer: %s\n", argv[2]);
        return 64;
    }
    if (strcmp(argv[1], "sha256") == 0) sha256_generated(n);
    else if (strcmp(argv[1], "sieve") == 0) printf("%ld\n", sieve(n));
    else if (strcmp(argv[1], "matmul") == 0) printf("%lld\n", matmul(n));
    else {
        fputs(usage, stderr);
        return 64;
    }
    return 0;
}
