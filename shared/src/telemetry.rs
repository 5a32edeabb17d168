//! Logging: JSON lines in Lambda (CloudWatch parses them), compact text on a developer's terminal.
//! Phone numbers are masked before they reach a log field.

use tracing_subscriber::EnvFilter;

/// When set, every log line goes to this file (appended, JSON with the full span list; EMF metric
/// lines too, see [`crate::metrics`]) instead of the terminal: the test suite scans it for
/// personal data and secrets (`make test`). The test
/// processes and every function process the local runner starts append to the same file; each
/// opens it with `O_APPEND` and the formatter writes each line whole in one `write`, so lines
/// from concurrent processes never interleave.
pub const CAPTURE_FILE_VAR: &str = "LOG_CAPTURE_FILE";

/// Installs the global subscriber once; later calls are no-ops (tests and the local runner call it
/// from several places).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let capture = std::env::var_os(CAPTURE_FILE_VAR).map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|err| (path, err))
    });
    let result = match capture {
        Some(Ok(file)) => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::sync::Mutex::new(file))
            .try_init(),
        Some(Err((path, err))) => {
            // Not fatal for the program; the scan fails on an empty capture.
            eprintln!("{CAPTURE_FILE_VAR}={}: {err}", path.to_string_lossy());
            builder.compact().try_init()
        }
        None if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .without_time() // CloudWatch stamps every line
            .try_init(),
        None => builder.compact().try_init(),
    };
    // Already installed by an earlier call: keep the first subscriber.
    drop(result);
}

/// An error and its sources on one line (`outer: cause: root cause`), for log fields and for
/// messages that must explain a failure without a backtrace.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Masks the middle of a phone number or wa_id for logs: `+5511987654321` → `+55119****4321`.
/// Short or non-numeric input is masked whole, so nothing identifying leaks through odd shapes.
pub fn mask_phone(raw: &str) -> String {
    let (plus, digits) = match raw.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", raw),
    };
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return "****".to_owned();
    }
    let keep_head = 5.min(digits.len() - 4);
    format!(
        "{plus}{}****{}",
        &digits[..keep_head],
        &digits[digits.len() - 4..]
    )
}

/// Shortens a message id for logs to its last 8 characters: `wamid.…Q0MzAA==`. Meta's wamids
/// are base64 of a record that holds the customer's wa_id, so a whole wamid in a log line is a
/// phone number anyone can decode; the tail (the random part) still tells two messages apart.
pub fn mask_wamid(raw: &str) -> String {
    let body = raw.strip_prefix("wamid.").unwrap_or(raw);
    let chars: Vec<char> = body.chars().collect();
    if chars.len() <= 8 {
        return "wamid.****".to_owned();
    }
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("wamid.…{tail}")
}

#[cfg(test)]
mod tests {
    use super::{mask_phone, mask_wamid};

    #[test]
    fn keeps_only_the_random_tail_of_a_wamid() {
        // base64 of a record holding the wa_id 16505551234.
        let wamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";
        assert_eq!(mask_wamid(wamid), "wamid.…RTY3RTcA");
        assert!(!mask_wamid(wamid).contains("MTY1MDU1NTEyMzQ"));
    }

    #[test]
    fn masks_a_short_or_empty_wamid_whole() {
        assert_eq!(mask_wamid("wamid.abc"), "wamid.****");
        assert_eq!(mask_wamid(""), "wamid.****");
        assert_eq!(mask_wamid("é日本語"), "wamid.****");
    }

    #[test]
    fn masks_the_middle_of_a_brazilian_mobile() {
        assert_eq!(mask_phone("+5511987654321"), "+55119****4321");
        assert_eq!(mask_phone("5511987654321"), "55119****4321");
    }

    #[test]
    fn masks_short_or_odd_input_whole() {
        assert_eq!(mask_phone("123"), "****");
        assert_eq!(mask_phone("US.1349120865530274"), "****");
        assert_eq!(mask_phone(""), "****");
    }
}
