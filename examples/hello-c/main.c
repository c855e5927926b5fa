/*
 * hello-c: the smallest donjon app in C. It says hello, shows the arguments
 * and environment its keep gave it, and exits.
 *
 * Build it for WebAssembly (WASI preview 1) with clang and wasi-libc:
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 main.c -o hello-c.wasm
 */
#include <stdio.h>
#include <stdlib.h>

static const char *env_or_empty(const char *name) {
    const char *value = getenv(name);
    return value ? value : "";
}

int main(int argc, char **argv) {
    printf("Hello from C, inside a donjon keep!\n");
    printf("arguments:");
    for (int i = 1; i < argc; i++) printf(" \"%s\"", argv[i]);
    printf("\n");

    /* GREETING comes from [env] in Donjon.toml; nothing from the host's
     * environment reaches the guest. */
    const char *greeting = getenv("GREETING");
    if (greeting) printf("GREETING=%s\n", greeting);
    /* The keep describes the file descriptors it opened, as Enarx did. */
    printf("FD_COUNT=%s\n", env_or_empty("FD_COUNT"));
    printf("FD_NAMES=%s\n", env_or_empty("FD_NAMES"));
    return 0;
}
