/*
 * spin-c: a guest that never stops, to show donjon's limits at work. It
 * prints one line, then computes forever without calling the host, so only
 * a limit enforced from outside (donjon run --timeout, or [limits] timeout
 * in Donjon.toml) can end it.
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 main.c -o spin-c.wasm
 */
#include <stdint.h>
#include <stdio.h>

int main(void) {
    puts("spinning forever; stop me with a limit");
    fflush(stdout);
    /* volatile: the compiler must not drop the work or the loop. */
    volatile uint64_t x = 1;
    for (;;) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
}
