//! Object keys in the bridge's bucket. The prefixes are what the bucket's lifecycle rules and
//! the functions' IAM policies name (template.yaml): keep them in step.

use sha2::{Digest, Sha256};

/// Updates stored by reference (claim checks), named by their content.
pub const UPDATES_PREFIX: &str = "updates/";
/// Media copied from Meta, per business number and contact.
pub const MEDIA_PREFIX: &str = "media/";
/// Personal-data exports, per business number and contact.
pub const EXPORTS_PREFIX: &str = "exports/";

/// A claim-checked update: `updates/<sha256 of its bytes, hex>.json`. The same update stored twice
/// (Meta's retries) lands on the same key.
pub fn update(body: &[u8]) -> String {
    format!("{UPDATES_PREFIX}{}.json", hex::encode(Sha256::digest(body)))
}

/// Everything of one contact under `media/`: erase deletes it, export lists it.
pub fn media_prefix(business: &str, contact_id: &str) -> String {
    format!("{MEDIA_PREFIX}{business}/{contact_id}/")
}

/// One inbound message's media: `media/<business>/<contact_id>/<sha256 of the wamid, hex>`.
/// The wamid is hashed because it is base64 (`/`, `+`, `=`) and long.
pub fn media(business: &str, contact_id: &str, wamid: &str) -> String {
    format!(
        "{}{}",
        media_prefix(business, contact_id),
        hex::encode(Sha256::digest(wamid.as_bytes()))
    )
}

/// Everything exported for one contact under `exports/`.
pub fn exports_prefix(business: &str, contact_id: &str) -> String {
    format!("{EXPORTS_PREFIX}{business}/{contact_id}/")
}

/// One export document: `exports/<business>/<contact_id>/<export_id>.json`.
pub fn export(business: &str, contact_id: &str, export_id: &str) -> String {
    format!("{}{export_id}.json", exports_prefix(business, contact_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_media_key_is_under_its_contacts_prefix_and_the_same_for_the_same_wamid() {
        let k = media("1234", "ct_abc", "wamid.HBgM/+x==");
        assert!(k.starts_with(&media_prefix("1234", "ct_abc")));
        assert_eq!(k, media("1234", "ct_abc", "wamid.HBgM/+x=="));
        assert_ne!(k, media("1234", "ct_abc", "wamid.other"));
        assert!(!k.contains('+') && !k.contains('=') && !k["media/".len()..].contains("wamid"));
    }

    #[test]
    fn an_update_key_is_named_by_its_content() {
        assert_eq!(update(b"{}"), update(b"{}"));
        assert_ne!(update(b"{}"), update(b"[]"));
        assert!(update(b"{}").starts_with(UPDATES_PREFIX) && update(b"{}").ends_with(".json"));
    }

    #[test]
    fn an_export_key_is_under_its_contacts_prefix() {
        assert!(export("1234", "ct_abc", "ex1").starts_with(&exports_prefix("1234", "ct_abc")));
    }
}
