//! Who a customer is: one contact per person per business number, found again whatever form of
//! their identity Meta sends.
//!
//! Parsing and E.164 formatting use the `phonenumber` crate; only the WhatsApp-specific variants
//! are written here: Brazil's ninth digit (both directions), Mexico's `521`/`52` and Argentina's
//! `549`/`54` (the `549` form is never invented from a `54` number, which may be a landline).
//! The business-scoped user id (`user_id`, "BSUID") identifies users who arrive with no number.

use std::fmt;

use sha2::{Digest, Sha256};

/// A `wa_id` as Meta sends it: country code and number, digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WaId(String);

impl WaId {
    /// Accepts 6–15 ASCII digits, with or without a leading `+`.
    pub fn parse(raw: &str) -> Option<Self> {
        let digits = raw.trim().trim_start_matches('+');
        let ok = (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Self(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every form under which this same person may appear, this one first.
    pub fn variants(&self) -> Vec<String> {
        let d = self.0.as_str();
        let mut out = vec![d.to_owned()];
        match (d.get(..2), d.get(..3), d.len()) {
            // Brazil: 55 + DDD + 9 + 8 digits  <->  55 + DDD + 8 digits (mobiles start 6–9).
            (Some("55"), _, 13) if d.get(4..5) == Some("9") => {
                out.push(format!("{}{}", &d[..4], &d[5..]));
            }
            (Some("55"), _, 12) if is_br_mobile_start(d.get(4..5)) => {
                out.push(format!("{}9{}", &d[..4], &d[4..]));
            }
            // Mexico: 521 + 10 digits  <->  52 + 10 digits.
            (_, Some("521"), 13) => out.push(format!("52{}", &d[3..])),
            (Some("52"), _, 12) => out.push(format!("521{}", &d[2..])),
            // Argentina: 549 + 10 digits -> 54 + 10 digits, never the other way round.
            (_, Some("549"), 13) => out.push(format!("54{}", &d[3..])),
            _ => {}
        }
        out
    }

    /// The one form used for the contact id and for E.164: Brazil with the ninth digit, Mexico
    /// without the `1`, anything else as received.
    pub fn canonical(&self) -> String {
        let d = self.0.as_str();
        match (d.get(..2), d.get(..3), d.len()) {
            (Some("55"), _, 12) if is_br_mobile_start(d.get(4..5)) => {
                format!("{}9{}", &d[..4], &d[4..])
            }
            (_, Some("521"), 13) => format!("52{}", &d[3..]),
            _ => d.to_owned(),
        }
    }

    /// The number in E.164 (`+5511987654321`), if the phone-number library can parse it.
    pub fn e164(&self) -> Option<String> {
        let parsed = phonenumber::parse(None, format!("+{}", self.canonical())).ok()?;
        Some(parsed.format().mode(phonenumber::Mode::E164).to_string())
    }
}

impl WaId {
    /// Whether the phone-number library knows this as a valid number of the country its first
    /// digits name. A number written without its country code (`11 98765-4321`) is a valid
    /// `WaId` by shape but almost never a valid international number: it would reach a stranger
    /// or fail at Meta, so the sender refuses it.
    pub fn is_valid_number(&self) -> bool {
        phonenumber::parse(None, format!("+{}", self.canonical()))
            .is_ok_and(|n| phonenumber::is_valid(&n))
    }
}

impl fmt::Display for WaId {
    /// Masked: a `WaId` in a log line never shows the whole number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::telemetry::mask_phone(&self.0))
    }
}

fn is_br_mobile_start(digit: Option<&str>) -> bool {
    matches!(digit, Some("6" | "7" | "8" | "9"))
}

/// A business-scoped user id (`US.13491208655302741918`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Accepts 1–128 printable characters without `#` (the key separator).
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        let ok =
            !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic() && c != '#');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an update tells us about who sent (or received) it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub wa_id: Option<WaId>,
    pub user_id: Option<UserId>,
}

impl Identity {
    pub fn new(wa_id: Option<&str>, user_id: Option<&str>) -> Self {
        Self {
            wa_id: wa_id.and_then(WaId::parse),
            user_id: user_id.and_then(UserId::parse),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.wa_id.is_none() && self.user_id.is_none()
    }

    /// The alias keys to look the contact up by: every phone variant, then the user id.
    pub fn alias_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .wa_id
            .iter()
            .flat_map(WaId::variants)
            .map(|v| phone_alias(&v))
            .collect();
        keys.extend(self.user_id.iter().map(|u| user_alias(u.as_str())));
        keys
    }

    /// The id a brand-new contact gets. Deterministic, so two updates racing to create the same
    /// person produce the same id and the store's create-if-absent settles it.
    pub fn new_contact_id(&self, business: &str) -> Option<String> {
        let basis = match (&self.wa_id, &self.user_id) {
            (Some(wa), _) => phone_alias(&wa.canonical()),
            (None, Some(uid)) => user_alias(uid.as_str()),
            (None, None) => return None,
        };
        Some(contact_id_from(business, &basis))
    }
}

/// Alias key for a phone form: `wa:<digits>`.
pub fn phone_alias(digits: &str) -> String {
    format!("wa:{digits}")
}

/// Alias key for a business-scoped user id: `uid:<id>`.
pub fn user_alias(user_id: &str) -> String {
    format!("uid:{user_id}")
}

fn contact_id_from(business: &str, basis: &str) -> String {
    let digest = Sha256::digest(format!("{business}\n{basis}").as_bytes());
    format!("ct_{}", hex::encode(digest.get(..12).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wa(s: &str) -> WaId {
        WaId::parse(s).unwrap()
    }

    #[test]
    fn brazil_adds_and_removes_the_ninth_digit() {
        assert_eq!(
            wa("5511987654321").variants(),
            ["5511987654321", "551187654321"]
        );
        assert_eq!(
            wa("551187654321").variants(),
            ["551187654321", "5511987654321"]
        );
        assert_eq!(wa("551187654321").canonical(), "5511987654321");
        assert_eq!(wa("551187654321").e164().as_deref(), Some("+5511987654321"));
    }

    #[test]
    fn a_brazilian_landline_gets_no_ninth_digit() {
        assert_eq!(wa("551133334444").variants(), ["551133334444"]);
        assert_eq!(wa("551133334444").canonical(), "551133334444");
    }

    #[test]
    fn both_brazilian_forms_give_one_contact_id() {
        let a = Identity::new(Some("5511987654321"), None).new_contact_id("pn");
        let b = Identity::new(Some("551187654321"), None).new_contact_id("pn");
        assert_eq!(a, b);
        assert_ne!(
            a,
            Identity::new(Some("5511987654321"), None).new_contact_id("other")
        );
    }

    #[test]
    fn mexico_maps_521_and_52_to_each_other() {
        assert_eq!(
            wa("5215512345678").variants(),
            ["5215512345678", "525512345678"]
        );
        assert_eq!(
            wa("525512345678").variants(),
            ["525512345678", "5215512345678"]
        );
        assert_eq!(wa("5215512345678").e164().as_deref(), Some("+525512345678"));
    }

    #[test]
    fn argentina_drops_the_9_but_never_invents_it_for_a_landline() {
        assert_eq!(
            wa("5491123456789").variants(),
            ["5491123456789", "541123456789"]
        );
        assert_eq!(wa("541123456789").variants(), ["541123456789"]);
        assert_eq!(
            wa("5491123456789").e164().as_deref(),
            Some("+5491123456789")
        );
    }

    #[test]
    fn other_countries_are_taken_as_received() {
        assert_eq!(wa("16505551234").variants(), ["16505551234"]);
        assert_eq!(wa("+16505551234").e164().as_deref(), Some("+16505551234"));
    }

    #[test]
    fn a_user_id_alone_identifies_a_contact() {
        let id = Identity::new(None, Some("BR.13491208655302741918"));
        assert_eq!(id.alias_keys(), ["uid:BR.13491208655302741918"]);
        assert!(id.new_contact_id("pn").is_some());
        assert!(Identity::default().new_contact_id("pn").is_none());
    }

    #[test]
    fn the_phone_decides_the_new_id_when_both_are_known() {
        let both = Identity::new(Some("5511987654321"), Some("BR.1"));
        let phone = Identity::new(Some("5511987654321"), None);
        assert_eq!(both.new_contact_id("pn"), phone.new_contact_id("pn"));
        assert_eq!(
            both.alias_keys(),
            ["wa:5511987654321", "wa:551187654321", "uid:BR.1"]
        );
    }

    #[test]
    fn rejects_what_is_not_a_wa_id_or_user_id() {
        assert!(WaId::parse("").is_none());
        assert!(WaId::parse("12ab5678").is_none());
        assert!(WaId::parse("1234567890123456").is_none());
        assert!(UserId::parse(" ").is_none());
        assert!(UserId::parse("a#b").is_none());
    }

    #[test]
    fn a_number_is_valid_only_with_its_country_code() {
        for ok in [
            "5511987654321",
            "551187654321",
            "551133334444",
            "5215512345678",
            "5491123456789",
            "16505551234",
            "447911123456",
        ] {
            assert!(wa(ok).is_valid_number(), "{ok}");
        }
        // National forms: a São Paulo mobile without 55, a US number without 1, a UK mobile
        // with its trunk 0.
        for national in ["11987654321", "6505551234", "07911123456", "123456"] {
            assert!(!wa(national).is_valid_number(), "{national}");
        }
    }

    #[test]
    fn a_wa_id_displays_masked() {
        assert_eq!(wa("5511987654321").to_string(), "55119****4321");
    }
}
