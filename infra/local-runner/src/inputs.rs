//! The inputs ledger: with `LOCAL_INPUT_CAPTURE_FILE` set, every input a function is handed
//! (each webhook request, each SQS record with its group id) and every credential the stack
//! provisions is appended to that file, one JSON object a line. `make test` scans the captured
//! logs for the phone numbers, texts, names and secrets found here, so what a test sends is
//! checked whichever helper sent it. Off (and free) when the variable is unset, as in `make run`.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Where the ledger goes; unset means no ledger.
pub const CAPTURE_FILE_VAR: &str = "LOCAL_INPUT_CAPTURE_FILE";

fn ledger() -> Option<&'static Mutex<std::fs::File>> {
    static LEDGER: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    LEDGER
        .get_or_init(|| {
            let path = std::env::var_os(CAPTURE_FILE_VAR)?;
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                Ok(file) => Some(Mutex::new(file)),
                Err(err) => {
                    eprintln!("{CAPTURE_FILE_VAR}={}: {err}", path.to_string_lossy());
                    None
                }
            }
        })
        .as_ref()
}

fn append(entry: serde_json::Value) {
    let Some(ledger) = ledger() else { return };
    let mut line = entry.to_string();
    line.push('\n');
    if let Ok(mut file) = ledger.lock() {
        // One write per line, so concurrent writers (test binaries) never interleave a line.
        let _ = file.write_all(line.as_bytes());
    }
}

/// A request the webhook is handed: its query string and body (lossy UTF-8).
pub fn webhook_request(query: Option<&str>, body: &[u8]) {
    if ledger().is_none() {
        return;
    }
    append(serde_json::json!({
        "source": "webhook",
        "query": query.unwrap_or(""),
        "body": String::from_utf8_lossy(body),
    }));
}

/// SQS records a function is handed, with their FIFO group ids (the sender's are recipients).
pub fn sqs_records(mapping: &str, messages: &[aws_sdk_sqs::types::Message]) {
    if ledger().is_none() {
        return;
    }
    for m in messages {
        let group = m
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
            .map(String::as_str)
            .unwrap_or("");
        append(serde_json::json!({
            "source": "sqs",
            "mapping": mapping,
            "group": group,
            "body": m.body().unwrap_or(""),
        }));
    }
}

/// A credential the stack (or a test) puts in place: a plain string, or a JSON document whose
/// string values are all secrets.
pub fn secret(value: &str) {
    append(serde_json::json!({ "source": "secret", "value": value }));
}
