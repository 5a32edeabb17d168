//! The helpdesk conversation ("attendance") on a contact's record: opened by a customer's message,
//! answered by an agent, closed by the CRM or after a quiet time, abandoned when the customer was
//! never answered. Pure transitions over [`ConversationRecord`]; each returns the lifecycle
//! events it causes, which the caller commits with the message (or command, or tick) that caused
//! them, in the same transaction as the record (conditional on its version).
//!
//! Event ids come from (conversation id, event type) alone, so whoever emits an event — the
//! processor, the sender or the schedule, on a first delivery or a redelivery — emits the same
//! id; the record's own state (`open`, `first_response_at`, `abandoned`) keeps a transition
//! from being taken twice.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, Env};
use crate::events::{self, ContactRef, EventSource, EventType, PendingEvent};
use crate::store::ConversationRecord;

/// How a conversation began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The customer wrote on their own.
    #[default]
    Organic,
    /// The customer came from a Click-to-WhatsApp ad: Meta's `referral` object, kept as sent.
    Ad {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        referral: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ctwa_clid: Option<String>,
    },
    /// The customer replied (`context`) to a template the bridge sent.
    TemplateReply {
        /// The template message replied to.
        wamid: String,
        /// The command that sent it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command_id: Option<String>,
    },
}

impl Entry {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Organic => "organic",
            Self::Ad { .. } => "ad",
            Self::TemplateReply { .. } => "template_reply",
        }
    }
}

/// Who answered first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responder {
    /// A CRM command the sender got accepted by Meta.
    Command,
    /// A message typed in the WhatsApp Business app (a coexistence echo).
    App,
}

impl Responder {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::App => "app",
        }
    }
}

/// An agent's message, as the writer knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// Sent by the bridge for this CRM command.
    Command { command_id: String },
    /// Typed in the WhatsApp Business app.
    App,
}

/// Who closed a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The CRM's `close_conversation` command.
    Crm,
    /// No message either way for `CONVERSATION_IDLE_MINUTES`.
    Idle,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Idle => "idle",
        }
    }
}

/// The conversation open on a contact's record (at most one; `None` between conversations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenConversation {
    /// `cv_` + 24 hex ([`conversation_id`]).
    pub conversation_id: String,
    /// Meta timestamp (Unix seconds) of the customer message that opened it.
    pub opened_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message_wamid: Option<String>,
    pub entry: Entry,
    /// When the first agent message went out (Unix seconds); `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_by: Option<Responder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_command_id: Option<String>,
    /// Customer messages in this conversation.
    #[serde(default)]
    pub messages_in: u32,
    /// Agent messages (commands accepted by Meta, app echoes) in this conversation.
    #[serde(default)]
    pub messages_out: u32,
    /// Customer messages no agent message has followed yet.
    #[serde(default)]
    pub unanswered: u32,
    /// The oldest of those (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_unanswered_at: Option<i64>,
    /// The newest message either way (Unix seconds): the idle close counts from here.
    pub last_activity_at: i64,
    /// `conversation.abandoned` was emitted (once per conversation).
    #[serde(default)]
    pub abandoned: bool,
}

/// One lifecycle event, ready to be built into the outbox ([`Lifecycle::event`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Lifecycle {
    Opened {
        conversation_id: String,
        opened_at: i64,
        first_message_wamid: Option<String>,
        entry: Entry,
    },
    FirstResponse {
        conversation_id: String,
        at: i64,
        response_seconds: i64,
        by: Responder,
        command_id: Option<String>,
    },
    Closed {
        conversation_id: String,
        closed_at: i64,
        closed_by: ClosedBy,
        reason: Option<String>,
        tags: Vec<String>,
        duration_seconds: i64,
        messages_in: u32,
        messages_out: u32,
    },
    Abandoned {
        conversation_id: String,
        at: i64,
        waited_seconds: i64,
        unanswered_messages: u32,
    },
    /// The customer's answer to a rating request (CSAT); built by whoever recognises it.
    Rated {
        conversation_id: String,
        at: i64,
        score: u32,
        /// `1-5` by default: the lowest and highest score offered.
        scale: String,
        comment: Option<String>,
        rated_wamid: String,
    },
    /// The customer's free-text message right after their rating: its comment, told apart
    /// because `conversation.rated` went out at the tap and an event is never re-emitted.
    RatingCommented {
        conversation_id: String,
        at: i64,
        score: u32,
        scale: String,
        comment: String,
        comment_wamid: String,
        rated_wamid: String,
    },
}

/// The id of the conversation a customer message opens: `cv_` + 24 hex of SHA-256 over the
/// business, the contact and the message (its wamid, or its update key when it has none), so a
/// redelivery computes the same id and a later message opens a new one.
pub fn conversation_id(business: &str, contact_id: &str, first_message: &str) -> String {
    let digest = Sha256::digest(format!("{business}\n{contact_id}\n{first_message}").as_bytes());
    format!("cv_{}", hex::encode(digest.get(..12).unwrap_or_default()))
}

/// The alias (`ALIAS#<business>#conv:<conversation_id>`) that points a conversation at its
/// contact, written with the opening: how a `close_conversation` naming only the conversation
/// finds it.
pub fn alias(conversation_id: &str) -> String {
    format!("conv:{conversation_id}")
}

/// A customer message at `at` (Meta's timestamp). Opens a conversation when none is open
/// (`first_message` is its wamid, or its update key when it has none; `entry` how it began),
/// and counts it as a message awaiting an answer unless an agent message at or after it is
/// already known. A message older than the open conversation arriving late is counted in it.
pub fn customer_message(
    conv: &mut ConversationRecord,
    at: i64,
    first_message: &str,
    wamid: Option<&str>,
    entry: Entry,
) -> Option<Lifecycle> {
    let mut opened = None;
    let open = match conv.open.as_mut() {
        Some(open) => open,
        None => {
            let id = conversation_id(&conv.business, &conv.contact_id, first_message);
            opened = Some(Lifecycle::Opened {
                conversation_id: id.clone(),
                opened_at: at,
                first_message_wamid: wamid.map(str::to_owned),
                entry: entry.clone(),
            });
            conv.open.insert(OpenConversation {
                conversation_id: id,
                opened_at: at,
                first_message_wamid: wamid.map(str::to_owned),
                entry,
                first_response_at: None,
                first_response_by: None,
                first_response_command_id: None,
                messages_in: 0,
                messages_out: 0,
                unanswered: 0,
                first_unanswered_at: None,
                last_activity_at: at,
                abandoned: false,
            })
        }
    };
    open.messages_in = open.messages_in.saturating_add(1);
    open.last_activity_at = open.last_activity_at.max(at);
    // Same second as an answer: the customer's message counts as after it (as the window does).
    if conv.last_outbound_at.is_none_or(|out| out <= at) {
        open.unanswered = open.unanswered.saturating_add(1);
        open.first_unanswered_at = Some(open.first_unanswered_at.map_or(at, |f| f.min(at)));
    }
    opened
}

/// An agent's message at `at` (Unix seconds), sent by a command or typed in the WhatsApp
/// Business app: the window's reply state ([`crate::window::answered_by_agent`]) and, when a
/// conversation is open, its counts; the first agent message of a conversation gives
/// `conversation.first_response`. The customer's messages older than it are answered.
pub fn agent_message(
    conv: &mut ConversationRecord,
    at: i64,
    message: &AgentMessage,
) -> Option<Lifecycle> {
    crate::window::answered_by_agent(conv, at);
    let open = conv.open.as_mut().filter(|o| at >= o.opened_at)?;
    open.messages_out = open.messages_out.saturating_add(1);
    open.last_activity_at = open.last_activity_at.max(at);
    if open.first_unanswered_at.is_some_and(|first| first < at) {
        open.unanswered = 0;
        open.first_unanswered_at = None;
    }
    if open.first_response_at.is_some() {
        return None;
    }
    let (by, command_id) = match message {
        AgentMessage::Command { command_id } => (Responder::Command, Some(command_id.clone())),
        AgentMessage::App => (Responder::App, None),
    };
    open.first_response_at = Some(at);
    open.first_response_by = Some(by);
    open.first_response_command_id = command_id.clone();
    Some(Lifecycle::FirstResponse {
        conversation_id: open.conversation_id.clone(),
        at,
        response_seconds: (at - open.opened_at).max(0),
        by,
        command_id,
    })
}

/// Why and how a conversation is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub by: ClosedBy,
    pub reason: Option<String>,
    pub tags: Vec<String>,
}

/// Closes the open conversation at `at`: `conversation.closed`, then `conversation.abandoned`
/// when customer messages were never answered (and it was not reported abandoned before).
/// Empty when no conversation is open. The next customer message opens a new one.
pub fn close(conv: &mut ConversationRecord, at: i64, close: Close) -> Vec<Lifecycle> {
    let Some(open) = conv.open.take() else {
        return Vec::new();
    };
    conv.last_conversation_id = Some(open.conversation_id.clone());
    let mut out = vec![Lifecycle::Closed {
        conversation_id: open.conversation_id.clone(),
        closed_at: at,
        closed_by: close.by,
        reason: close.reason,
        tags: close.tags,
        duration_seconds: (at - open.opened_at).max(0),
        messages_in: open.messages_in,
        messages_out: open.messages_out,
    }];
    out.extend(abandonment(&open, at));
    out
}

/// The window closed at `expires_at` on a conversation whose customer still waits:
/// `conversation.abandoned`, once per conversation. The conversation stays open (the CRM or the
/// idle close ends it).
pub fn window_expired(conv: &mut ConversationRecord, expires_at: i64) -> Option<Lifecycle> {
    let open = conv.open.as_mut()?;
    let event = abandonment(open, expires_at)?;
    open.abandoned = true;
    Some(event)
}

fn abandonment(open: &OpenConversation, at: i64) -> Option<Lifecycle> {
    let first = open.first_unanswered_at?;
    (!open.abandoned && open.unanswered > 0 && first <= at).then(|| Lifecycle::Abandoned {
        conversation_id: open.conversation_id.clone(),
        at,
        waited_seconds: at - first,
        unanswered_messages: open.unanswered,
    })
}

/// `CONVERSATION_IDLE_MINUTES`: how long a conversation stays open without a message either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimeout {
    minutes: u32,
}

/// `CONVERSATION_IDLE_MINUTES` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected whole minutes between 1 and 525600 (a year), got {0:?}")]
pub struct IdleTimeoutError(String);

impl IdleTimeout {
    pub const VARIABLE: &'static str = "CONVERSATION_IDLE_MINUTES";
    pub const DEFAULT_MINUTES: u32 = 1440;

    /// The one reader of the setting (the processor arms the close, window-alerts performs it).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.parsed_or(Self::VARIABLE, Self::default())
    }

    pub fn from_minutes(minutes: u32) -> Result<Self, IdleTimeoutError> {
        if (1..=525_600).contains(&minutes) {
            Ok(Self { minutes })
        } else {
            Err(IdleTimeoutError(minutes.to_string()))
        }
    }

    pub fn secs(self) -> i64 {
        i64::from(self.minutes) * 60
    }

    /// When the open conversation closes for lack of messages (Unix seconds).
    pub fn close_at(self, conv: &ConversationRecord) -> Option<i64> {
        conv.open.as_ref().map(|o| o.last_activity_at + self.secs())
    }
}

impl Default for IdleTimeout {
    fn default() -> Self {
        Self {
            minutes: Self::DEFAULT_MINUTES,
        }
    }
}

impl std::str::FromStr for IdleTimeout {
    type Err = IdleTimeoutError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let minutes = s
            .trim()
            .parse::<u32>()
            .map_err(|_| IdleTimeoutError(s.to_owned()))?;
        Self::from_minutes(minutes)
    }
}

impl Lifecycle {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Opened { .. } => EventType::ConversationOpened,
            Self::FirstResponse { .. } => EventType::ConversationFirstResponse,
            Self::Closed { .. } => EventType::ConversationClosed,
            Self::Abandoned { .. } => EventType::ConversationAbandoned,
            Self::Rated { .. } => EventType::ConversationRated,
            Self::RatingCommented { .. } => EventType::ConversationRatingCommented,
        }
    }

    pub fn conversation_id(&self) -> &str {
        match self {
            Self::Opened {
                conversation_id, ..
            }
            | Self::FirstResponse {
                conversation_id, ..
            }
            | Self::Closed {
                conversation_id, ..
            }
            | Self::Abandoned {
                conversation_id, ..
            }
            | Self::Rated {
                conversation_id, ..
            }
            | Self::RatingCommented {
                conversation_id, ..
            } => conversation_id,
        }
    }

    /// When it happened (Unix seconds): the envelope's `occurred_at`.
    pub fn occurred_at(&self) -> i64 {
        match self {
            Self::Opened { opened_at: t, .. }
            | Self::FirstResponse { at: t, .. }
            | Self::Closed { closed_at: t, .. }
            | Self::Abandoned { at: t, .. }
            | Self::Rated { at: t, .. }
            | Self::RatingCommented { at: t, .. } => *t,
        }
    }

    /// The event's `data` (see `schemas/events/conversation.*.json`).
    pub fn data(&self) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("conversation_id".into(), self.conversation_id().into());
        match self {
            Self::Opened {
                opened_at,
                first_message_wamid,
                entry,
                ..
            } => {
                d.insert("opened_at".into(), events::rfc3339(*opened_at).into());
                d.insert(
                    "first_message_wamid".into(),
                    first_message_wamid.clone().into(),
                );
                d.insert("entry".into(), entry.as_str().into());
                let (referral, ctwa_clid, reply_to) = match entry {
                    Entry::Organic => (Value::Null, Value::Null, Value::Null),
                    Entry::Ad {
                        referral,
                        ctwa_clid,
                    } => (
                        referral.clone().unwrap_or(Value::Null),
                        ctwa_clid.clone().into(),
                        Value::Null,
                    ),
                    Entry::TemplateReply { wamid, command_id } => (
                        Value::Null,
                        Value::Null,
                        serde_json::json!({ "wamid": wamid, "command_id": command_id }),
                    ),
                };
                d.insert("referral".into(), referral);
                d.insert("ctwa_clid".into(), ctwa_clid);
                d.insert("template_reply_to".into(), reply_to);
            }
            Self::FirstResponse {
                at,
                response_seconds,
                by,
                command_id,
                ..
            } => {
                d.insert("responded_at".into(), events::rfc3339(*at).into());
                d.insert("response_seconds".into(), (*response_seconds).into());
                d.insert("by".into(), by.as_str().into());
                d.insert("command_id".into(), command_id.clone().into());
            }
            Self::Closed {
                closed_at,
                closed_by,
                reason,
                tags,
                duration_seconds,
                messages_in,
                messages_out,
                ..
            } => {
                d.insert("closed_at".into(), events::rfc3339(*closed_at).into());
                d.insert("closed_by".into(), closed_by.as_str().into());
                d.insert("reason".into(), reason.clone().into());
                d.insert("tags".into(), tags.clone().into());
                d.insert("duration_seconds".into(), (*duration_seconds).into());
                d.insert("messages_in".into(), (*messages_in).into());
                d.insert("messages_out".into(), (*messages_out).into());
            }
            Self::Abandoned {
                at,
                waited_seconds,
                unanswered_messages,
                ..
            } => {
                d.insert("abandoned_at".into(), events::rfc3339(*at).into());
                d.insert("waited_seconds".into(), (*waited_seconds).into());
                d.insert("unanswered_messages".into(), (*unanswered_messages).into());
            }
            Self::Rated {
                at,
                score,
                scale,
                comment,
                rated_wamid,
                ..
            } => {
                d.insert("rated_at".into(), events::rfc3339(*at).into());
                d.insert("score".into(), (*score).into());
                d.insert("scale".into(), scale.clone().into());
                d.insert("comment".into(), comment.clone().into());
                d.insert("rated_wamid".into(), rated_wamid.clone().into());
            }
            Self::RatingCommented {
                at,
                score,
                scale,
                comment,
                comment_wamid,
                rated_wamid,
                ..
            } => {
                d.insert("commented_at".into(), events::rfc3339(*at).into());
                d.insert("score".into(), (*score).into());
                d.insert("scale".into(), scale.clone().into());
                d.insert("comment".into(), comment.clone().into());
                d.insert("comment_wamid".into(), comment_wamid.clone().into());
                d.insert("rated_wamid".into(), rated_wamid.clone().into());
            }
        }
        d
    }

    /// The outbox event for the contact `contact` of business number `business`. Its id
    /// depends on the conversation and the type only ([`Lifecycle::update_key`]).
    pub fn event(
        &self,
        business: &str,
        contact: ContactRef,
    ) -> Result<PendingEvent, serde_json::Error> {
        let source = EventSource {
            update_key: self.update_key(),
            // `waba:<id>` marks a record without a business number (never for messages).
            phone_number_id: (!business.starts_with("waba:")).then(|| business.to_owned()),
            waba_id: None,
        };
        source.event(
            self.event_type(),
            0,
            self.occurred_at(),
            Some(contact),
            events::data(self.data())?,
        )
    }

    /// What seeds the event id: `conversation:<conversation_id>` (the type is added by
    /// [`events::event_id`]), so each lifecycle event of a conversation has one id.
    pub fn update_key(&self) -> String {
        format!("conversation:{}", self.conversation_id())
    }
}

#[cfg(test)]
mod tests;
