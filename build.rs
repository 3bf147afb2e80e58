//! Link-time settings for the `embargo` binary only (no dependency is
//! rebuilt by them).
//!
//! `-z pack-relative-relocs` (DT_RELR: glibc 2.36 or later at run time, as
//! Debian 12 has, and a linker that knows it: Rust's bundled lld, or GNU
//! ld from 2.38) packs the position-independent binary's relative
//! relocations: 2 MB of `.rela.dyn` that the dynamic loader read at every
//! start, and that stayed resident for the daemon's life, become ~30 KB.
//! ASLR is unchanged (the binary is still PIE). bench/README.md has the
//! idle memory it saves.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu && std::env::var_os("EMBARGO_NO_RELR").is_none() {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo::rerun-if-env-changed=EMBARGO_NO_RELR");
}
