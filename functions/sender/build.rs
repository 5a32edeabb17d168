//! The deployed sender is the largest bootstrap and sits at the 8 MB budget
//! (`make build-check`): its arm64 release link folds identical functions (lld's `--icf=all`),
//! which the many monomorphised SDK operations have plenty of. Rust gives no guarantee that two
//! functions have distinct addresses, so folding them is sound. Host and debug builds link as
//! before.
fn main() {
    println!("cargo:rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    if target == "aarch64-unknown-linux-gnu" && profile == "release" {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}
