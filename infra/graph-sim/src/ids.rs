//! Message ids shaped like Meta's: `wamid.` + base64 of a small Thrift-compact record holding the
//! user's wa_id and a random hex id (outbound and inbound ids differ in one marker byte, as at Meta).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;

/// An id for a message the business sent (what the send endpoint answers).
pub fn outbound_wamid(wa_id: &str) -> String {
    wamid(wa_id, 0x11, 18)
}

/// An id for a message a user sent (what inbound webhooks carry).
pub fn inbound_wamid(wa_id: &str) -> String {
    wamid(wa_id, 0x12, 20)
}

/// A conversation id for pre-v24 status payloads (32 lowercase hex digits).
pub fn conversation_id() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

fn wamid(wa_id: &str, marker: u8, hex_len: u8) -> String {
    // Keep the length in one varint byte; real wa_ids are at most 15 digits.
    let wa = &wa_id.as_bytes()[..wa_id.len().min(100)];
    let mut raw = Vec::with_capacity(wa.len() + usize::from(hex_len) + 10);
    raw.extend_from_slice(&[0x1c, 0x18]);
    raw.push(u8::try_from(wa.len()).unwrap_or(0));
    raw.extend_from_slice(wa);
    raw.extend_from_slice(&[0x15, 0x02, 0x00, marker, 0x18, hex_len]);
    let mut rng = rand::rng();
    for _ in 0..hex_len {
        raw.push(b"0123456789ABCDEF"[rng.random_range(0..16)]);
    }
    raw.push(0x00);
    format!("wamid.{}", STANDARD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_like_metas_sample_id() {
        let id = inbound_wamid("16503879439");
        // The first 20 bytes (26 base64 characters) are fixed by the wa_id and the markers.
        assert!(id.starts_with("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGB"), "{id}");
        assert_eq!(id.len(), "wamid.".len() + 56, "{id}");
    }

    #[test]
    fn outbound_ids_are_unique_and_decodable() {
        let a = outbound_wamid("5511987654321");
        let b = outbound_wamid("5511987654321");
        assert_ne!(a, b);
        let decoded = STANDARD
            .decode(a.trim_start_matches("wamid."))
            .unwrap_or_default();
        assert_eq!(decoded.get(3..16), Some(&b"5511987654321"[..]));
    }
}
