//! `webhook replay`: a file's payload posted to the webhook exactly as Meta would deliver it,
//! signed `X-Hub-Signature-256: sha256=HMAC(app secret, raw body)`.

use std::path::Path;

use base64::Engine;
use serde_json::Value;

use crate::error::CliError;
use crate::target::Target;

pub async fn replay(target: &Target, files: &[std::path::PathBuf]) -> Result<(), CliError> {
    let bodies = files
        .iter()
        .map(|path| read_body(path).map(|b| (path, b)))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = target.app_secret().await?;
    let client = reqwest::Client::new();
    let mut refused = 0usize;
    for (path, body) in bodies {
        let status = client
            .post(&target.webhook_url)
            .header("content-type", "application/json")
            .header(
                "X-Hub-Signature-256",
                shared::signature::sign(&body, &secret),
            )
            .body(body)
            .send()
            .await
            .map_err(|source| CliError::Webhook {
                url: target.webhook_url.clone(),
                source,
            })?
            .status();
        println!("{}  {}", status.as_u16(), path.display());
        if !status.is_success() {
            refused += 1;
        }
    }
    if refused > 0 {
        return Err(CliError::Failed(format!(
            "the webhook refused {refused} of {} payload(s)",
            files.len()
        )));
    }
    Ok(())
}

/// The bytes to post: an API Gateway event's `body` (decoded if base64), else the file as it is.
fn read_body(path: &Path) -> Result<Vec<u8>, CliError> {
    let raw = std::fs::read(path).map_err(|source| CliError::File {
        path: path.to_owned(),
        source,
    })?;
    let Ok(event) = serde_json::from_slice::<Value>(&raw) else {
        return Ok(raw);
    };
    let is_apigw = event.get("requestContext").is_some() && event.get("routeKey").is_some();
    match (is_apigw, event["body"].as_str()) {
        (true, Some(body)) if event["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| {
                    CliError::Usage(format!("{}: body is not valid base64", path.display()))
                })
        }
        (true, Some(body)) => Ok(body.as_bytes().to_vec()),
        (true, None) => Err(CliError::Usage(format!(
            "{}: an API Gateway event without a body",
            path.display()
        ))),
        (false, _) => Ok(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
    }

    #[test]
    fn an_api_gateway_event_gives_its_raw_body() {
        let body = read_body(&events_dir().join("webhook-post-text.json")).unwrap_or_default();
        let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(payload["object"], "whatsapp_business_account");
    }

    #[test]
    fn a_base64_event_is_decoded() {
        let body = read_body(&events_dir().join("webhook-post-base64.json")).unwrap_or_default();
        let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(payload["object"], "whatsapp_business_account");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_body(Path::new("no/such.json"));
        assert!(matches!(err, Err(CliError::File { .. })));
    }
}
