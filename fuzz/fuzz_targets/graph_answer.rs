//! An answer from the Graph API as the sender classifies it: the first two bytes pick the HTTP
//! status (100–999), the rest is the body text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sender::graph::{classify_answer, SendResult};

fuzz_target!(|data: &[u8]| {
    let (code, body) = match data {
        [hi, lo, rest @ ..] => (100 + u16::from_be_bytes([*hi, *lo]) % 900, rest),
        _ => return,
    };
    let Ok(status) = reqwest::StatusCode::from_u16(code) else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    if let SendResult::Refused(error) = classify_answer(status, &text) {
        let _ = error.class();
    }
});
