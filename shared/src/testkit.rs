//! Builders of Meta-shaped webhook bodies for tests, benchmarks and the simulator's callers.
//! (Small and dependency-free, so it ships in the library rather than being copied per crate.)

/// A `messages` webhook body with `count` text messages spread over entries of at most 100
/// updates each, every message from its own sender and `body_len` characters long (accented text,
/// escaped the way Meta escapes it).
pub fn text_batch(count: usize, body_len: usize) -> String {
    let text: String = "Ol\\u00e1, tudo bem? "
        .chars()
        .cycle()
        .take(body_len)
        .collect();
    let text = text.trim_end_matches('\\').to_owned();
    let mut entries = Vec::new();
    let mut n = 0;
    while n < count {
        let in_entry = (count - n).min(100);
        let mut contacts = Vec::with_capacity(in_entry);
        let mut messages = Vec::with_capacity(in_entry);
        for i in n..n + in_entry {
            let wa_id = format!("55119{:08}", i);
            contacts.push(format!(
                r#"{{"profile":{{"name":"Cliente {i}"}},"wa_id":"{wa_id}"}}"#
            ));
            messages.push(format!(
                r#"{{"from":"{wa_id}","id":"wamid.TEST{i:06}","timestamp":"{}","type":"text","text":{{"body":"{text}"}}}}"#,
                1_749_416_383 + i
            ));
        }
        entries.push(format!(
            r#"{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{}],"messages":[{}]}},"field":"messages"}}]}}"#,
            contacts.join(","),
            messages.join(",")
        ));
        n += in_entry;
    }
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{}]}}"#,
        entries.join(",")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_valid_json_with_every_message() {
        let body = super::text_batch(250, 40);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let total: usize = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["changes"][0]["value"]["messages"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(total, 250);
    }
}
