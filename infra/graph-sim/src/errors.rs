//! Meta's Graph API errors: the code table (reference §6) and the one place where a code becomes
//! an HTTP status and a `{"error":{…}}` body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;

/// What Meta says for one error code. HTTP statuses follow what Graph answers in practice:
/// 401 for token errors, 403 for permissions, 5xx for server trouble, 400 for everything else
/// (including 130429 and 131056: Meta does not use 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind {
    pub code: u32,
    pub title: &'static str,
    pub http_status: u16,
    /// Default `error_data.details` for faults and async failures.
    pub details: &'static str,
}

const fn kind(
    code: u32,
    http_status: u16,
    title: &'static str,
    details: &'static str,
) -> ErrorKind {
    ErrorKind {
        code,
        title,
        http_status,
        details,
    }
}

/// Every code the simulator can produce or inject (`/_sim/faults`); 200–299 are resolved by
/// [`lookup`] as "API Permission".
pub const KNOWN: &[ErrorKind] = &[
    kind(0, 401, "AuthException", "We were unable to authenticate the app user."),
    kind(1, 500, "API Unknown", "Invalid request or possible server error."),
    kind(2, 503, "API Service", "Temporary due to downtime or due to being overloaded."),
    kind(3, 400, "API Method", "Capability or permissions issue."),
    kind(4, 400, "API Too Many Calls", "The app has reached its API call rate limit."),
    kind(10, 403, "Permission Denied", "Permission is either not granted or has been removed."),
    kind(100, 400, "Invalid parameter", "The request included an invalid or unsupported parameter."),
    kind(190, 401, "Access token has expired", "Your access token has expired."),
    kind(368, 400, "Temporarily blocked for policies violations", "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy."),
    kind(80007, 400, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    kind(130403, 400, "Recipient blocked", "The recipient has blocked this business."),
    kind(130429, 400, "Rate limit hit", "Cloud API message throughput has been reached."),
    kind(130497, 400, "Business account is restricted from messaging users in this country", "The WhatsApp Business Account is restricted from messaging users in this country."),
    kind(131000, 500, "Something went wrong", "Message failed to send due to an unknown error."),
    kind(131005, 403, "Access denied", "Permission is either not granted or has been removed."),
    kind(131008, 400, "Required parameter is missing", "The request is missing a required parameter."),
    kind(131009, 400, "Parameter value is not valid", "One or more parameter values are invalid."),
    kind(131016, 503, "Service unavailable", "A service is temporarily unavailable."),
    kind(131021, 400, "Recipient cannot be sender", "Sender and recipient phone number is the same."),
    kind(131026, 400, "Message undeliverable", "Unable to deliver message."),
    kind(131031, 400, "Business Account locked", "The WhatsApp Business Account associated with the app has been restricted or disabled."),
    kind(131042, 400, "Business eligibility payment issue", "There was an error related to your payment method."),
    kind(131045, 400, "Incorrect certificate", "Message failed to send due to a phone number registration error."),
    kind(131047, 400, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
    kind(131049, 400, "Meta chose not to deliver.", "This message was not delivered to maintain healthy ecosystem engagement."),
    kind(131050, 400, "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.", "The user has stopped marketing messages from this business."),
    kind(131051, 400, "Unsupported message type", "Unsupported message type."),
    kind(131052, 400, "Media download error", "Unable to download the media sent by the user."),
    kind(131053, 400, "Media upload error", "Unable to upload the media used in the message."),
    kind(131056, 400, "(Business Account, Consumer Account) pair rate limit hit", "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."),
    kind(131057, 503, "Account in maintenance mode", "The business account is in maintenance mode."),
    kind(131062, 400, "Business-scoped user ID not supported", "This message type cannot be sent to a business-scoped user ID; authentication templates need the user's phone number."),
    kind(132000, 400, "Number of parameters does not match the expected number of params", "The number of variable parameter values does not match the number of variable parameters defined in the template."),
    kind(132001, 404, "Template does not exist", "The template does not exist in the specified language or the template has not been approved."),
    kind(132012, 400, "Parameter format does not match format in the created template", "Variable parameter values formatted incorrectly."),
    kind(132015, 400, "Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message."),
    kind(132016, 400, "Template is Disabled", "Template has been paused too many times due to low quality and is now permanently disabled."),
    kind(133004, 503, "Server temporarily unavailable", "Server is temporarily unavailable."),
    kind(133010, 400, "Phone number not registered", "The phone number is not registered on the WhatsApp Business Platform."),
];

/// The table entry for `code`, if the simulator knows it.
pub fn lookup(code: u32) -> Option<ErrorKind> {
    if let Some(found) = KNOWN.iter().find(|k| k.code == code) {
        return Some(*found);
    }
    (200..=299).contains(&code).then_some(kind(
        code,
        403,
        "API Permission",
        "Permission is either not granted or has been removed.",
    ))
}

/// One Graph API error, ready to become Meta's JSON and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    pub code: u32,
    pub http_status: u16,
    pub message: String,
    pub error_type: &'static str,
    pub subcode: Option<u32>,
    /// `error_data.details`; Meta omits `error_data` for token and path errors.
    pub details: Option<String>,
    /// Graph's per-request trace id, fixed at creation so the answer and the log agree.
    pub fbtrace_id: String,
}

impl MetaError {
    /// An error for `kind` with Meta's `(#code) title` message and the given details.
    pub fn from_kind(kind: ErrorKind, details: impl Into<String>) -> Self {
        Self {
            code: kind.code,
            http_status: kind.http_status,
            message: format!("(#{}) {}", kind.code, kind.title),
            error_type: "OAuthException",
            subcode: None,
            details: Some(details.into()),
            fbtrace_id: fbtrace_id(),
        }
    }

    /// An error for a code in [`KNOWN`]; unknown codes become a generic 400.
    pub fn code(code: u32, details: impl Into<String>) -> Self {
        let kind = lookup(code).unwrap_or(ErrorKind {
            code,
            title: "Simulated error",
            http_status: 400,
            details: "",
        });
        Self::from_kind(kind, details)
    }

    /// 100: a parameter has the wrong value or shape.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::code(100, details)
    }

    /// 131008: a required parameter is absent.
    pub fn missing(details: impl Into<String>) -> Self {
        Self::code(131008, details)
    }

    /// 190 for a missing or unreadable `Authorization` header.
    pub fn unparseable_token() -> Self {
        Self {
            code: 190,
            http_status: 401,
            message: "Invalid OAuth access token - Cannot parse access token".to_owned(),
            error_type: "OAuthException",
            subcode: None,
            details: None,
            fbtrace_id: fbtrace_id(),
        }
    }

    /// 190 for a well-formed token that is not the configured one (subcode 467: invalid token).
    pub fn invalid_token() -> Self {
        Self {
            code: 190,
            http_status: 401,
            message: "Error validating access token: The access token is invalid.".to_owned(),
            error_type: "OAuthException",
            subcode: Some(467),
            details: None,
            fbtrace_id: fbtrace_id(),
        }
    }

    /// 190 injected by a fault: the expired-token variant (subcode 463).
    pub fn expired_token() -> Self {
        Self {
            code: 190,
            http_status: 401,
            message: "Error validating access token: Session has expired.".to_owned(),
            error_type: "OAuthException",
            subcode: Some(463),
            details: None,
            fbtrace_id: fbtrace_id(),
        }
    }

    /// What a fault for `code` answers: the table entry, with the token variant for 190.
    pub fn fault(code: u32) -> Self {
        if code == 190 {
            return Self::expired_token();
        }
        let details = lookup(code).map(|k| k.details).unwrap_or_default();
        Self::code(code, details)
    }

    /// Graph's answer to a POST on an object id it does not know (code 100, subcode 33).
    pub fn unknown_object(id: &str) -> Self {
        Self {
            code: 100,
            http_status: 400,
            message: format!(
                "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
            error_type: "GraphMethodException",
            subcode: Some(33),
            details: None,
            fbtrace_id: fbtrace_id(),
        }
    }

    /// Graph's answer to a GET of an object id it does not know, e.g. an expired or unknown media
    /// id (code 100, subcode 33).
    pub fn unknown_object_get(id: &str) -> Self {
        Self {
            message: format!(
                "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
            ..Self::unknown_object(id)
        }
    }

    /// Graph's answer to a path it has no route for (code 2500).
    pub fn unknown_path(path: &str) -> Self {
        Self {
            code: 2500,
            http_status: 400,
            message: format!("Unknown path components: {path}"),
            error_type: "OAuthException",
            subcode: None,
            details: None,
            fbtrace_id: fbtrace_id(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// Meta's body: `{"error":{message,type,code,error_subcode?,error_data?,fbtrace_id}}`,
    /// fields in Meta's order.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorInner {
                message: &self.message,
                error_type: self.error_type,
                code: self.code,
                error_subcode: self.subcode,
                error_data: self.details.as_deref().map(|details| ErrorData {
                    messaging_product: "whatsapp",
                    details,
                }),
                fbtrace_id: &self.fbtrace_id,
            },
        }
    }

    /// [`MetaError::body`] as JSON text.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_default()
    }

    /// The element of a `failed` status's `errors[]` for this error.
    pub fn status_error(&self) -> serde_json::Value {
        let title = lookup(self.code).map_or(self.message.as_str(), |k| k.title);
        serde_json::json!({
            "code": self.code,
            "title": title,
            "message": title,
            "error_data": { "details": self.details.as_deref().unwrap_or(title) },
        })
    }
}

impl MetaError {
    /// Graph adds `WWW-Authenticate` to token errors (code 190).
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        if self.code != 190 {
            return None;
        }
        let value = format!(
            "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
            self.message.replace('"', "'")
        );
        HeaderValue::from_str(&value).ok()
    }
}

/// `{"error": …}` as Graph answers it.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorInner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    error_type: &'a str,
    code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_subcode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_data: Option<ErrorData<'a>>,
    fbtrace_id: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorData<'a> {
    messaging_product: &'static str,
    details: &'a str,
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(value) = self.www_authenticate() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A trace id shaped like Graph's (23 base64-ish characters).
fn fbtrace_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_code_is_in_the_table() {
        let reference = [
            130429, 4, 80007, 131000, 131016, 1, 2, 133004, 131057, 131056, 131049, 131047, 131026,
            131021, 130403, 131050, 100, 131008, 131009, 131051, 131053, 132000, 132001, 132012,
            132015, 132016, 0, 190, 3, 10, 200, 250, 299, 368, 131031, 130497, 131042, 131045,
            133010,
        ];
        for code in reference {
            assert!(lookup(code).is_some(), "missing code {code}");
        }
        assert!(lookup(300).is_none());
    }

    #[test]
    fn rate_limits_are_answered_with_400_not_429() {
        assert_eq!(
            MetaError::code(130429, "").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            MetaError::code(131056, "").status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn body_has_metas_shape() {
        let body = serde_json::to_value(MetaError::missing("The parameter to is required.").body())
            .unwrap_or_default();
        assert_eq!(body["error"]["code"], 131008);
        assert_eq!(body["error"]["type"], "OAuthException");
        assert_eq!(
            body["error"]["message"],
            "(#131008) Required parameter is missing"
        );
        assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
        assert_eq!(
            body["error"]["error_data"]["details"],
            "The parameter to is required."
        );
        assert_eq!(body["error"]["fbtrace_id"].as_str().map(str::len), Some(23));
    }

    #[test]
    fn token_errors_carry_no_error_data() {
        let body = serde_json::to_value(MetaError::invalid_token().body()).unwrap_or_default();
        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["error_subcode"], 467);
        assert!(body["error"].get("error_data").is_none());
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn writes_fields_in_metas_order() {
        let text = MetaError::missing("d").body_json();
        let positions: Vec<usize> = [
            "\"message\"",
            "\"type\"",
            "\"code\"",
            "\"error_data\"",
            "\"fbtrace_id\"",
        ]
        .iter()
        .filter_map(|k| text.find(k))
        .collect();
        assert_eq!(positions.len(), 5, "{text}");
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
