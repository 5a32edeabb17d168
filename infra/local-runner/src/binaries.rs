//! Where the compiled function binaries are: by default the cargo profile directory the
//! runner itself was built into (`target/<profile>/`; a test binary in `target/<profile>/deps/`
//! looks one level up), so `make run`, `make test` and `make load` run the functions built
//! with the same profile. `LOCAL_FUNCTION_BIN_DIR` overrides it.

use std::path::{Path, PathBuf};

/// Overrides the directory holding `webhook`, `processor`, `sender` and `window-alerts`.
pub const BIN_DIR_VAR: &str = "LOCAL_FUNCTION_BIN_DIR";

/// Why a function's binary cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot tell where the function binaries are (the runner's own path is unknown); set {BIN_DIR_VAR}")]
    NoExecutablePath(#[source] std::io::Error),
    #[error("no function binary at {}: run `{build}` first (or point {BIN_DIR_VAR} at a build)", .path.display())]
    Missing { path: PathBuf, build: String },
}

/// The directory the function binaries are taken from.
pub fn bin_dir() -> Result<PathBuf, BinaryError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().map_err(BinaryError::NoExecutablePath)?;
    Ok(profile_dir_of(&exe))
}

/// `target/debug/local-stack` → `target/debug`; `target/debug/deps/webhook_e2e-…` → `target/debug`.
fn profile_dir_of(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or_else(|| Path::new("."));
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().unwrap_or(dir).to_owned()
    } else {
        dir.to_owned()
    }
}

/// The path of `binary` in `dir`, or an error naming the `cargo build` that makes it.
pub fn function_binary(dir: &Path, binary: &str) -> Result<PathBuf, BinaryError> {
    let path = dir.join(binary);
    if path.is_file() {
        return Ok(path);
    }
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => String::new(),
        Some("release") => " --release".to_owned(),
        Some(other) => format!(" --profile {other}"),
    };
    Err(BinaryError::Missing {
        path,
        build: format!("cargo build{profile} -p {binary} --bin {binary}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_profile_directory_of_a_binary_and_of_a_test() {
        assert_eq!(
            profile_dir_of(Path::new("/w/target/debug/local-stack")),
            Path::new("/w/target/debug")
        );
        assert_eq!(
            profile_dir_of(Path::new("/w/target/load/deps/webhook_e2e-0123")),
            Path::new("/w/target/load")
        );
    }

    #[test]
    fn a_missing_binary_names_the_build_to_run() {
        let dir = std::env::temp_dir().join("no-such-profile-dir/load");
        let err = function_binary(&dir, "sender").expect_err("missing");
        assert!(
            err.to_string()
                .contains("run `cargo build --profile load -p sender --bin sender` first"),
            "{err}"
        );
        let debug = std::env::temp_dir().join("no-such-profile-dir/debug");
        let err = function_binary(&debug, "webhook").expect_err("missing");
        assert!(
            err.to_string()
                .contains("`cargo build -p webhook --bin webhook`"),
            "{err}"
        );
    }
}
