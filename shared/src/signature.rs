//! Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of the raw body.
//!
//! Verification hashes the bytes exactly as received (re-serialising JSON breaks Meta's `\uXXXX`
//! escapes) and compares in constant time.

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The header Meta signs POSTs with (compare case-insensitively).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
const PREFIX: &str = "sha256=";

/// Why a signature header was not accepted; each maps to 401 at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("signature header does not start with sha256=")]
    WrongPrefix,
    #[error("signature is not 64 hex characters")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value Meta would send for `body` signed with `secret` (used by the simulator and tests).
pub fn sign(body: &[u8], secret: &SecretString) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(mac(secret.expose_secret().as_bytes(), body))
    )
}

/// Checks `header` against `body` with each of `secrets` in turn (current first, then the previous
/// one during a rotation). Every candidate is computed so timing does not tell which one matched.
pub fn verify<'a>(
    header: Option<&str>,
    body: &[u8],
    secrets: impl IntoIterator<Item = &'a SecretString>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_part = header
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::WrongPrefix)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut expected).map_err(|_| SignatureError::Malformed)?;
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        matched |= mac(secret.expose_secret().as_bytes(), body).ct_eq(&expected);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn accepts_what_it_signed() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign(body, &secret("s3cret"));
        assert_eq!(verify(Some(&header), body, [&secret("s3cret")]), Ok(()));
    }

    #[test]
    fn matches_a_known_hmac_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = sign(b"what do ya want for nothing?", &secret("Jefe"));
        assert_eq!(
            header,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rejects_a_body_changed_by_one_byte() {
        let header = sign(b"{\"a\":1}", &secret("k"));
        assert_eq!(
            verify(Some(&header), b"{\"a\":2}", [&secret("k")]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn accepts_the_previous_secret_during_rotation_but_not_an_unknown_one() {
        let body = b"{}";
        let old = sign(body, &secret("old"));
        let stranger = sign(body, &secret("stranger"));
        let keys = [secret("new"), secret("old")];
        assert_eq!(verify(Some(&old), body, keys.iter()), Ok(()));
        assert_eq!(
            verify(Some(&stranger), body, keys.iter()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn classifies_missing_prefixless_and_malformed_headers() {
        let k = secret("k");
        assert_eq!(verify(None, b"", [&k]), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("sha1=abcd"), b"", [&k]),
            Err(SignatureError::WrongPrefix)
        );
        assert_eq!(
            verify(Some("sha256=zz"), b"", [&k]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("sha256=abcd"), b"", [&k]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("sha256="), b"", [&k]),
            Err(SignatureError::Malformed)
        );
    }
}
