//! Marketing consent: which customer inputs mean "stop" or "start again", and how the ledger
//! names where a decision came from.
//!
//! Meta mandates no keyword, but its policy requires honouring a clear opt-out; the defaults are
//! the words users type in practice in Portuguese, Spanish and English. A message counts only when
//! the whole text (case, accents and punctuation aside) is one of the words, so "pare de me
//! mandar isso" is a conversation, not a command.

use serde::{Deserialize, Serialize};

/// Opt-out words used when `STOP_WORDS` is not set.
pub const DEFAULT_STOP_WORDS: &str =
    "stop,stop all,unsubscribe,cancel,parar,pare,sair,cancelar,descadastrar,baja,darme de baja,alto";
/// Opt-in words used when `START_WORDS` is not set.
pub const DEFAULT_START_WORDS: &str =
    "start,unstop,subscribe,voltar,retomar,reativar,alta,suscribir,reanudar";
/// Quick-reply texts of Meta's marketing "Stop promotions" button, as localised.
const STOP_PROMOTIONS: [&str; 6] = [
    "stop promotions",
    "parar promocoes",
    "parar de receber promocoes",
    "detener promociones",
    "dejar de recibir promociones",
    "no recibir promociones",
];
const RESUME_PROMOTIONS: [&str; 3] = [
    "resume promotions",
    "retomar promocoes",
    "reanudar promociones",
];

/// What a customer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    OptOut,
    OptIn,
}

/// Where the decision came from (recorded in the ledger and the CRM event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// A text message that is a stop/start word.
    Keyword,
    /// A tap on a template's "Stop promotions" (or similar) quick reply.
    QuickReply,
    /// Meta's `user_preferences` webhook (marketing stop/resume).
    UserPreferences,
    /// A failed status with error 131050 (the user stopped marketing messages).
    DeliveryError,
}

/// The configured stop and start words, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentWords {
    stop: Vec<String>,
    start: Vec<String>,
}

impl Default for ConsentWords {
    fn default() -> Self {
        Self::from_lists(DEFAULT_STOP_WORDS, DEFAULT_START_WORDS)
    }
}

impl ConsentWords {
    /// Builds from comma-separated lists (`STOP_WORDS`, `START_WORDS`).
    pub fn from_lists(stop: &str, start: &str) -> Self {
        let list = |s: &str| {
            s.split(',')
                .map(normalize)
                .filter(|w| !w.is_empty())
                .collect()
        };
        Self {
            stop: list(stop),
            start: list(start),
        }
    }

    /// The decision a free-text message expresses, if it is exactly a stop or start word.
    pub fn classify_text(&self, text: &str) -> Option<ConsentAction> {
        let t = normalize(text);
        if self.stop.contains(&t) {
            Some(ConsentAction::OptOut)
        } else if self.start.contains(&t) {
            Some(ConsentAction::OptIn)
        } else {
            None
        }
    }

    /// The decision a template quick-reply tap expresses (payload or visible text).
    pub fn classify_button(
        &self,
        payload: Option<&str>,
        text: Option<&str>,
    ) -> Option<ConsentAction> {
        [payload, text].into_iter().flatten().find_map(|s| {
            let t = normalize(s);
            if STOP_PROMOTIONS.contains(&t.as_str()) {
                Some(ConsentAction::OptOut)
            } else if RESUME_PROMOTIONS.contains(&t.as_str()) {
                Some(ConsentAction::OptIn)
            } else {
                self.classify_text(s)
            }
        })
    }
}

/// One consent decision about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: ConsentAction,
    pub source: ConsentSource,
    /// Meta time of the decision (Unix seconds).
    pub occurred_at: i64,
    pub trigger_wamid: Option<String>,
    pub trigger: Option<String>,
    /// The update that carried it.
    pub update_key: String,
}

impl Decision {
    /// Records the decision: a ledger entry always, and the contact's current state when the
    /// decision is not older than the one it holds (so shuffled stop/resume settle on the newest).
    /// Returns the ledger entry (living `CONSENT_RETENTION_DAYS`) and whether it changed the
    /// current state.
    pub fn apply(
        &self,
        contact: &mut crate::store::ContactRecord,
        index: usize,
        now_ms: i64,
        retention: &crate::retention::Retention,
    ) -> (crate::store::ConsentRecord, bool) {
        let effective = contact.consent_at.is_none_or(|at| self.occurred_at >= at);
        if effective {
            contact.marketing_opt_out = self.action == ConsentAction::OptOut;
            contact.consent_at = Some(self.occurred_at);
            contact.updated_at_ms = now_ms;
        }
        let entry_id = crate::events::event_id(
            &self.update_key,
            crate::events::EventType::ContactOptedOut,
            index,
        );
        let record = crate::store::ConsentRecord {
            business: contact.business.clone(),
            contact_id: contact.contact_id.clone(),
            action: self.action,
            source: self.source,
            category: "marketing".to_owned(),
            occurred_at: self.occurred_at,
            trigger_wamid: self.trigger_wamid.clone(),
            trigger: self.trigger.clone(),
            update_key: self.update_key.clone(),
            entry_id: entry_id.trim_start_matches("ev_").to_owned(),
            recorded_at_ms: now_ms,
            ttl: Some(retention.consent_ttl(now_ms / 1000)),
        };
        (record, effective)
    }

    /// The event type announcing it.
    pub fn event_type(&self) -> crate::events::EventType {
        match self.action {
            ConsentAction::OptOut => crate::events::EventType::ContactOptedOut,
            ConsentAction::OptIn => crate::events::EventType::ContactOptedIn,
        }
    }

    /// The event's `data`.
    pub fn event_data(&self, effective: bool) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("category".into(), "marketing".into());
        m.insert(
            "source".into(),
            serde_json::to_value(self.source).unwrap_or_default(),
        );
        m.insert(
            "decided_at".into(),
            crate::events::rfc3339(self.occurred_at).into(),
        );
        m.insert("trigger_wamid".into(), self.trigger_wamid.clone().into());
        m.insert("trigger".into(), self.trigger.clone().into());
        m.insert("effective".into(), effective.into());
        m
    }
}

/// Lower case, Latin accents removed, punctuation dropped, whitespace collapsed.
fn normalize(s: &str) -> String {
    let mapped: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_stop_words_in_portuguese_spanish_and_english() {
        let words = ConsentWords::default();
        for text in [
            "STOP",
            "Parar",
            "sair!",
            " Cancelar. ",
            "BAJA",
            "unsubscribe",
        ] {
            assert_eq!(
                words.classify_text(text),
                Some(ConsentAction::OptOut),
                "{text}"
            );
        }
    }

    #[test]
    fn recognises_start_words() {
        let words = ConsentWords::default();
        assert_eq!(words.classify_text("Start"), Some(ConsentAction::OptIn));
        assert_eq!(words.classify_text("voltar"), Some(ConsentAction::OptIn));
    }

    #[test]
    fn a_sentence_containing_a_stop_word_is_not_a_command() {
        let words = ConsentWords::default();
        assert_eq!(words.classify_text("pare de me mandar isso"), None);
        assert_eq!(words.classify_text("can I stop by tomorrow?"), None);
        assert_eq!(words.classify_text(""), None);
    }

    #[test]
    fn configured_lists_replace_the_defaults() {
        let words = ConsentWords::from_lists("chega, basta", "quero");
        assert_eq!(words.classify_text("Basta"), Some(ConsentAction::OptOut));
        assert_eq!(words.classify_text("stop"), None);
        assert_eq!(words.classify_text("QUERO"), Some(ConsentAction::OptIn));
    }

    #[test]
    fn a_stop_promotions_tap_is_an_opt_out() {
        let words = ConsentWords::default();
        assert_eq!(
            words.classify_button(Some("Parar promoções"), Some("Parar promoções")),
            Some(ConsentAction::OptOut)
        );
        assert_eq!(
            words.classify_button(Some("STOP_PROMO"), Some("Stop promotions")),
            Some(ConsentAction::OptOut)
        );
        assert_eq!(words.classify_button(Some("yes"), Some("Sim")), None);
    }
}
