//! The webhook's first two steps on a POST: the signature check and the envelope split.
//! Input: the `X-Hub-Signature-256` header up to the first newline, then the body.
//! Beyond "no panic": every item the split yields must survive the trip through the inbound
//! queue (serialise, then deserialise as the processor does) unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use shared::inbound::{split, BufferedUpdate};
use shared::signature::verify;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (
            data.get(..at).unwrap_or_default(),
            data.get(at + 1..).unwrap_or_default(),
        ),
        None => (&[][..], data),
    };
    let header = std::str::from_utf8(header).ok();
    let keys = [
        SecretString::from("local-app-secret".to_owned()),
        SecretString::from("previous-secret".to_owned()),
    ];
    let _ = verify(header, body, keys.iter());
    let _ = verify(header, body, std::iter::empty());

    let Ok(items) = split(body, 1_749_416_400_000) else {
        return;
    };
    for item in &items {
        let wire = serde_json::to_string(item).expect("a split item serialises");
        let back: BufferedUpdate<'_> =
            serde_json::from_str(&wire).expect("the processor reads what the webhook queued");
        assert_eq!(back.kind, item.kind);
        assert_eq!(back.field, item.field);
        assert_eq!(back.waba_id, item.waba_id);
        assert_eq!(back.update.get(), item.update.get());
    }
});
