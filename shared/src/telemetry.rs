//! Logging: JSON lines in Lambda (CloudWatch parses them), compact text on a developer's terminal.
//! Phone numbers are masked before they reach a log field.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops (tests and the local runner call it
/// from several places).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if in_lambda {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .without_time() // CloudWatch stamps every line
            .try_init()
    } else {
        builder.compact().try_init()
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

#[cfg(test)]
mod tests {
    use super::mask_phone;

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
