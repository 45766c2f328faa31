//! Links the `dynsync` binary as a position-dependent executable on Linux (GNU). A PIE
//! makes the dynamic loader apply ~60,000 relative relocations at every start: it reads
//! 1.4 MB of `.rela.dyn` and writes ~1 MB of `.data.rel.ro` into private pages, ~2.5 MB of
//! resident memory a run keeps to its end (sampled peak RSS of a 20,000-contact `dynsync
//! run` built at opt-level "s": 27.3 -> 25.1 MB at page size 5,000, 18.9 -> 16.2 MB at 500;
//! README, Benchmarks). The trade: the executable's own code and data lose address
//! randomisation (shared libraries, heap and stacks keep theirs); the code is memory-safe
//! Rust.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
