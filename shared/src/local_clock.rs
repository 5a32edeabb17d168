//! The local stack's time travel, seen from a function's process: a test moves the clock of
//! the functions the local runner runs (a day passes in a second), and [`crate::now_ms`] adds
//! the offset.
//!
//! The runner writes the offset (milliseconds, decimal) to a file and names it in
//! [`CLOCK_FILE_VAR`]; a function reads it on every clock reading, so a travel reaches every
//! execution environment by its next invocation. Lambda never sets the variable, and it is
//! honoured only while the AWS endpoint is this machine's (`AWS_ENDPOINT_URL` on a loopback
//! address), so no function in AWS can read a test clock.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Names the file holding the offset; set only by the local runner.
pub const CLOCK_FILE_VAR: &str = "LOCAL_CLOCK_FILE";

/// How far the local runner moved this process's clock (zero outside the local stack).
pub fn offset_ms() -> i64 {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(path) = FILE.get_or_init(clock_file) else {
        return 0;
    };
    // The runner replaces the file by a rename, so a reading sees a whole number or none.
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn clock_file() -> Option<PathBuf> {
    let path = std::env::var_os(CLOCK_FILE_VAR)?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok()?;
    is_loopback(&endpoint).then(|| PathBuf::from(path))
}

/// Whether an endpoint URL points at this machine (`http://127.0.0.1:4566`, `http://localhost`).
fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || rest.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn honours_the_clock_only_for_an_endpoint_on_this_machine() {
        assert!(is_loopback("http://127.0.0.1:4566"));
        assert!(is_loopback("http://localhost:4566/"));
        assert!(is_loopback("http://[::1]:4566"));
        assert!(!is_loopback("https://sqs.us-east-1.amazonaws.com"));
        assert!(!is_loopback("http://127.0.0.1.example.com"));
        assert!(!is_loopback(""));
    }
}
