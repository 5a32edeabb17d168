//! A local stand-in for Meta's Graph API (dev tooling, never deployed).
//!
//! It accepts `POST /{version}/{phone_number_id}/messages` with Meta's checks, error shapes and
//! sending rules (throughput, pair rate, 24 h window), delivers signed inbound and status webhooks
//! the way Meta serialises them, and exposes `/_sim/*` endpoints so tests can inspect what was
//! sent and inject failures. The library is embedded by tests and the local runner; the
//! `graph-sim` binary serves it on 127.0.0.1:3001.
//!
//! | endpoint | purpose |
//! |---|---|
//! | `POST /{version}/{phone_number_id}/messages` | send / mark-as-read, as Meta |
//! | `GET`, `DELETE /_sim/messages` | every send request received, with the answer |
//! | `GET`, `POST`, `DELETE /_sim/faults` | `{"to","code","times","mode"?}`: next sends fail |
//! | `POST /_sim/inbound` | `{"from","name"?,"text","timestamp"?,"user_id"?}`: a user writes |
//! | `POST /_sim/webhook` | `{"field"?,"value"}`: deliver any change, signed (a `messages` inbound, not a group's, or a user-initiated `calls` connect opens the window; coexistence echoes, `history` and the app's address book do not) |
//! | `GET`, `DELETE /_sim/webhooks` | every webhook POSTed and the receiver's status |
//! | `GET /{version}/{media-id}` | media metadata and a download URL (bearer, 5 minutes), as Meta |
//! | `GET /whatsapp_business/attachments/?…&hash=` | the URL's bytes (bearer) |
//! | `POST /_sim/media` | the body's bytes, `Content-Type` its mime type: a media id and Meta's sha256 (base64 and hex) |
//! | `GET`, `POST`, `DELETE /_sim/media-faults` | `{"on":"metadata"\|"download","status"?,"times"?}`: next media calls answer a 5xx |
//! | `POST /_sim/reset` | forget logs, faults, limits, windows and media |
//! | `GET /_sim/health` | readiness |

pub mod config;
pub mod errors;
pub mod ids;
pub mod late;
pub mod limits;
pub mod media;
pub mod meta_json;
mod routes;
pub mod send;
mod sim;
pub mod webhook;

pub use config::{ConfigError, SimConfig};
pub use errors::MetaError;
pub use sim::{
    Clock, DeliveredWebhook, Fault, FaultError, FaultMode, InboundError, InboundOutcome,
    InboundRequest, RecordedRequest, SendOutcome, Simulator,
};
