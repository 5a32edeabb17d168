//! What a template's category allows. Marketing consent, failing closed: a template goes to a
//! contact who opted out of marketing only when Meta says it is not marketing and the CRM does
//! not say it is.
//!
//! Meta decides a template's category (and may change it: `template_category_update`); the
//! processor records what Meta reports. The category the CRM declares in the command can only
//! make the check stricter: a CRM that is wrong about a template must not send marketing to a
//! person who said stop. A template whose category was never learned counts as marketing.
//! Authentication templates never go to a business-scoped user id (Meta refuses them there).

use crate::command::{RejectReason, Rejection, Template};
use crate::store::SenderStore;
use shared::store::StoreError;

/// The categories Meta gives templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Marketing,
    Utility,
    Authentication,
}

impl Category {
    /// Meta's names, in any case; anything else is not a category we know.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "marketing" => Some(Self::Marketing),
            "utility" => Some(Self::Utility),
            "authentication" => Some(Self::Authentication),
            _ => None,
        }
    }
}

/// Why `template` may not go to a contact who opted out of marketing, if it may not. Only that
/// contact's commands ask: the learned category is read from the state table.
pub async fn opted_out_refusal<L: SenderStore>(
    store: &L,
    template: &Template,
) -> Result<Option<Rejection>, StoreError> {
    let learned = store
        .template_category(template.name(), template.language())
        .await?;
    Ok(refusal(
        template.declared_category.as_deref(),
        learned.as_deref(),
    ))
}

/// Whether the consent ledger kept for an erased person (`shared::privacy`, under the keyed hash
/// of the number or user id the command names) says they opted out of marketing, and more
/// recently than the decision the contact has on record (`consent_at`; `None`: none). An erased
/// person who had said stop is not sent marketing when they come back as a new contact. With
/// no privacy key set nothing can have been kept: `false`.
pub async fn kept_opt_out(
    state: &impl crate::Ports,
    command: &crate::command::Command,
    consent_at: Option<i64>,
) -> Result<bool, crate::flow::SenderError> {
    use crate::PrivacyPorts;
    use shared::store::personal::PersonalDataStore;
    let Some(to) = &command.to else {
        return Ok(false);
    };
    let keys = state.privacy().keys().get().await?;
    let pn = &command.phone_number_id;
    let bases = shared::privacy::subject_bases(&to.identity());
    let hashes = match shared::privacy::subject_hashes(&keys, pn, &bases) {
        Ok(h) => h,
        Err(shared::secrets::SecretsError::Unset { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut kept = Vec::new();
    for hash in hashes {
        let items = state
            .store()
            .read_partition(&shared::privacy::keys::erased_pk(pn, &hash))
            .await?;
        kept.extend(
            items
                .into_iter()
                .filter_map(|v| serde_json::from_value::<shared::privacy::HashedConsent>(v).ok()),
        );
    }
    Ok(match shared::privacy::opted_out_by(&kept) {
        Some((out, at)) => consent_at.is_none_or(|c| at > c) && out,
        None => false,
    })
}

/// Why `template` may not go to a business-scoped user id, if it may not: Meta refuses an
/// authentication template there (131062), so one the CRM declares or Meta categorises as
/// authentication is refused before any call. A template of unknown category is left to Meta.
pub async fn user_id_refusal<L: SenderStore>(
    store: &L,
    template: &Template,
) -> Result<Option<Rejection>, StoreError> {
    let declared = template
        .declared_category
        .as_deref()
        .and_then(Category::parse);
    let authentication = declared == Some(Category::Authentication)
        || store
            .template_category(template.name(), template.language())
            .await?
            .as_deref()
            .and_then(Category::parse)
            == Some(Category::Authentication);
    Ok(authentication.then(|| {
        Rejection::new(
            RejectReason::AuthenticationToUserId,
            "authentication templates cannot be sent to a business-scoped user id (Meta answers 131062); send it to the contact's phone number",
        )
    }))
}

/// The stricter of the declared and the learned category; unknown counts as marketing. The
/// message says which one decided; it quotes no value of the command.
pub fn refusal(declared: Option<&str>, learned: Option<&str>) -> Option<Rejection> {
    let because = |why: &str| {
        Some(Rejection::new(
            RejectReason::OptedOut,
            format!("{why}, and the contact opted out of marketing messages"),
        ))
    };
    if declared.and_then(Category::parse) == Some(Category::Marketing) {
        return because("the template is declared marketing in the command");
    }
    match learned.map(|l| (l, Category::parse(l))) {
        Some((_, Some(Category::Marketing))) => {
            because("Meta categorises the template as marketing")
        }
        Some((_, Some(Category::Utility | Category::Authentication))) => None,
        Some((_, None)) => because(
            "Meta reported a template category the bridge does not know, so it counts as marketing",
        ),
        None => because(
            "the template's category was never learned from Meta (no message_template_status_update or template_category_update for this name and language), so it counts as marketing",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(declared: Option<&str>, learned: Option<&str>) -> bool {
        refusal(declared, learned).is_some()
    }

    #[test]
    fn only_a_template_meta_says_is_not_marketing_and_not_declared_marketing_passes() {
        for learned in ["UTILITY", "utility", "AUTHENTICATION"] {
            assert!(!refused(None, Some(learned)), "{learned}");
            assert!(!refused(Some("utility"), Some(learned)), "{learned}");
            assert!(!refused(Some("authentication"), Some(learned)), "{learned}");
            assert!(refused(Some("marketing"), Some(learned)), "{learned}");
        }
    }

    #[test]
    fn an_unknown_or_marketing_learned_category_refuses_whatever_the_crm_declares() {
        for declared in [
            None,
            Some("utility"),
            Some("authentication"),
            Some("marketing"),
        ] {
            assert!(refused(declared, None), "{declared:?}, never learned");
            assert!(refused(declared, Some("MARKETING")), "{declared:?}");
            assert!(refused(declared, Some("SOMETHING_NEW")), "{declared:?}");
        }
    }

    #[test]
    fn the_message_says_which_category_decided() {
        let message = |d, l| refusal(d, l).map(|r| r.message).unwrap_or_default();
        assert!(message(None, None).contains("never learned"));
        assert!(message(None, Some("MARKETING")).contains("Meta categorises"));
        assert!(message(Some("marketing"), Some("UTILITY")).contains("declared marketing"));
        assert!(message(None, Some("X")).contains("does not know"));
        assert_eq!(
            refusal(None, None).map(|r| r.reason),
            Some(RejectReason::OptedOut)
        );
    }
}
