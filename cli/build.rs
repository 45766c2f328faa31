//! How the `dynsync` binary is linked on Linux (GNU). Both settings cut resident code, most
//! of what a `dynsync run` holds in memory (README, Benchmarks).
//!
//! - Position-dependent (`-no-pie`). A PIE makes the dynamic loader apply ~60,000 relative
//!   relocations at every start: it reads 1.4 MB of `.rela.dyn` and writes ~1 MB of
//!   `.data.rel.ro` into private pages, ~2.5 MB of resident memory a run keeps to its end
//!   (sampled peak RSS of a 20,000-contact `dynsync run` built at opt-level "s": 27.3 -> 25.1
//!   MB at page size 5,000, 18.9 -> 16.2 MB at 500). The trade: the executable's own code
//!   and data lose address randomisation (shared libraries, heap and stacks keep theirs); the
//!   code is memory-safe Rust.
//! - Hot code first (x86_64, linked by the toolchain's LLD, Rust >= 1.90). A sync executes
//!   2.0 MB of the 12.8 MB of machine code, scattered over all of it, and the kernel maps
//!   code in 64 KiB blocks (or whole large folios) around each first touch: a run held 5-7
//!   MB of it. `link-order.txt` lists the functions a `dynsync run` executes (written by
//!   `infra/scripts/link-order.py` from a callgrind run) and LLD places them side by side at
//!   the start of `.text`: 3.0 MB of code resident, peak RSS 16.4 -> 10.5 MB at page size
//!   500 and 23.7 -> 18.8 MB at 5,000 (same machine, same session). A name this build does
//!   not define (another toolchain, a renamed function) is skipped: that function lands
//!   where it would anyway.
//!
//! `DYNSYNC_LINK_MAP=<file>` also writes LLD's link map there, with the names as linked
//! (the script reads it).

use std::env;
use std::process::Command;

fn main() {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=DYNSYNC_LINK_MAP");
    if os != "linux" || target_env != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if arch == "x86_64" && links_with_default_lld() {
        let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={dir}/link-order.txt");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        if let Ok(map) = env::var("DYNSYNC_LINK_MAP") {
            println!("cargo:rustc-link-arg-bins=-Wl,-Map={map}");
            println!("cargo:rustc-link-arg-bins=-Wl,--no-demangle");
        }
    }
}

/// Rust 1.90 made the toolchain's own LLD the default linker of x86_64-unknown-linux-gnu;
/// GNU ld would reject `--symbol-ordering-file`. A linker chosen through RUSTFLAGS is left
/// alone.
fn links_with_default_lld() -> bool {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("link-self-contained") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let minor = text
        .lines()
        .find_map(|l| l.strip_prefix("release: 1."))
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
