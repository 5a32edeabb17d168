//! Webhooks as Meta sends them: the `whatsapp_business_account` envelope, the messages and
//! statuses values, Meta's escaping, the `X-Hub-Signature-256` header and the POST itself.

use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

use crate::meta_json;

/// The envelope around one change: `{"object","entry":[{"id","time"?,"changes":[{value,field}]}]}`.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, V: Serialize> {
    object: &'static str,
    entry: [Entry<'a, V>; 1],
}

#[derive(Debug, Serialize)]
struct Entry<'a, V: Serialize> {
    id: &'a str,
    /// Meta sets `time` on fields other than `messages`.
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<u64>,
    changes: [Change<'a, V>; 1],
}

#[derive(Debug, Serialize)]
struct Change<'a, V: Serialize> {
    value: V,
    field: &'a str,
}

impl<'a, V: Serialize> Envelope<'a, V> {
    /// One change of `field` for the WABA `waba_id`; `now_unix` fills `entry[].time` when Meta would.
    pub fn new(waba_id: &'a str, field: &'a str, value: V, now_unix: u64) -> Self {
        Self {
            object: "whatsapp_business_account",
            entry: [Entry {
                id: waba_id,
                time: (field != "messages").then_some(now_unix),
                changes: [Change { value, field }],
            }],
        }
    }
}

/// `value.metadata`: which business number the change is about.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata<'a> {
    pub display_phone_number: &'a str,
    pub phone_number_id: &'a str,
}

/// The value of an inbound text message change.
#[derive(Debug, Serialize)]
pub struct InboundValue<'a> {
    pub messaging_product: &'static str,
    pub metadata: Metadata<'a>,
    pub contacts: [InboundContact<'a>; 1],
    pub messages: [InboundText<'a>; 1],
}

#[derive(Debug, Serialize)]
pub struct InboundContact<'a> {
    pub profile: Profile<'a>,
    pub wa_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct Profile<'a> {
    pub name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct InboundText<'a> {
    pub from: &'a str,
    pub id: &'a str,
    /// Unix seconds as a string, like every Meta timestamp.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: TextBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct TextBody<'a> {
    pub body: &'a str,
}

/// The value of a status change (no `contacts` block).
#[derive(Debug, Serialize)]
pub struct StatusValue<'a> {
    pub messaging_product: &'static str,
    pub metadata: Metadata<'a>,
    pub statuses: [Status; 1],
}

/// One status of a message the business sent.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: String,
    pub status: &'static str,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    /// Only for Graph versions before v24.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Conversation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    pub expiration_timestamp: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Per-message pricing (PMP since 2025-07-01).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Pricing {
    pub billable: bool,
    pub pricing_model: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub category: &'static str,
}

impl Pricing {
    /// Free-form replies inside the service window are free; templates are billed (the simulator
    /// does not know a template's category and reports `utility`).
    pub fn for_message(is_template: bool) -> Self {
        if is_template {
            Self {
                billable: true,
                pricing_model: "PMP",
                kind: "regular",
                category: "utility",
            }
        } else {
            Self {
                billable: false,
                pricing_model: "PMP",
                kind: "free_customer_service",
                category: "service",
            }
        }
    }
}

/// Serialises an envelope Meta's way and signs it: `(body, X-Hub-Signature-256 value)`.
pub fn sign_envelope<V: Serialize>(
    envelope: &Envelope<'_, V>,
    app_secret: &SecretString,
) -> serde_json::Result<(Vec<u8>, String)> {
    let body = meta_json::to_vec(envelope)?;
    let signature = shared::signature::sign(&body, app_secret);
    Ok((body, signature))
}

/// Why a webhook could not be handed to the receiver.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook body could not be serialised")]
    Serialise(#[source] serde_json::Error),
    #[error("the webhook at {url} is unreachable")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// POSTs signed bodies to the configured webhook URL; one HTTP client for the simulator's life.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    url: String,
}

impl WebhookClient {
    pub fn new(url: String, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("facebookexternalua")
            .build()
            // Building fails only when the TLS backend cannot start; reqwest's default client is
            // the fallback (same stack, no timeout) for a tool that speaks HTTP to localhost.
            .unwrap_or_default();
        Self { client, url }
    }

    /// Sends `body` with Meta's headers and returns the receiver's HTTP status.
    pub async fn post(&self, body: Vec<u8>, signature: &str) -> Result<u16, DeliveryError> {
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(shared::signature::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|source| DeliveryError::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        Ok(response.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_metas_text_message_envelope_byte_for_byte() {
        let value = InboundValue {
            messaging_product: "whatsapp",
            metadata: Metadata {
                display_phone_number: "15550783881",
                phone_number_id: "106540352242922",
            },
            contacts: [InboundContact {
                profile: Profile {
                    name: "Sheena Nelson",
                },
                wa_id: "16505551234",
                user_id: None,
            }],
            messages: [InboundText {
                from: "16505551234",
                id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                timestamp: "1749416383".into(),
                kind: "text",
                text: TextBody {
                    body: "Does it come in another color?",
                },
            }],
        };
        let body = meta_json::to_vec(&Envelope::new("102290129340398", "messages", value, 0))
            .unwrap_or_default();
        let expected = concat!(
            r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"#,
            r#""messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"#,
            r#""contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"#,
            r#""messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","#,
            r#""timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"#,
            r#""field":"messages"}]}]}"#
        );
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }

    #[test]
    fn other_fields_carry_entry_time() {
        let body = meta_json::to_vec(&Envelope::new(
            "1",
            "account_update",
            serde_json::json!({}),
            42,
        ))
        .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1","time":42,"changes":[{"value":{},"field":"account_update"}]}]}"#
        );
    }

    #[test]
    fn signs_the_escaped_bytes() {
        let secret = SecretString::from("s".to_owned());
        let envelope = Envelope::new("1", "messages", serde_json::json!({"t": "é"}), 0);
        let Ok((body, signature)) = sign_envelope(&envelope, &secret) else {
            panic!("serialisable")
        };
        assert!(String::from_utf8_lossy(&body).contains(r#""t":"\u00e9""#));
        assert_eq!(
            shared::signature::verify(Some(&signature), &body, [&secret]),
            Ok(())
        );
    }
}
