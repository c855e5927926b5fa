//! hello-rust: the smallest donjon app in Rust. It says hello, shows the
//! arguments and environment its keep gave it, and exits.
//!
//! Build it for WebAssembly (WASI preview 1) with Debian's rustc:
//!
//!     /usr/bin/rustc --edition 2021 --target wasm32-wasi -O main.rs -o hello-rust.wasm

use std::env;

fn main() {
    println!("Hello from Rust, inside a donjon keep!");
    let args: Vec<String> = env::args().skip(1).collect();
    println!("arguments: {:?}", args);

    // GREETING comes from [env] in Donjon.toml; nothing from the host's
    // environment reaches the guest.
    if let Ok(greeting) = env::var("GREETING") {
        println!("GREETING={}", greeting);
    }
    // The keep describes the file descriptors it opened, as Enarx did.
    println!("FD_COUNT={}", env::var("FD_COUNT").unwrap_or_default());
    println!("FD_NAMES={}", env::var("FD_NAMES").unwrap_or_default());
}
