//! A CRM command body as the sender reads it from `crm-commands.fifo`: schema checks, Meta's
//! limits, recipient normalisation, and the Graph body a valid command becomes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sender::command::Validators;

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| Validators::load().expect("the embedded schemas compile"))
}

fuzz_target!(|data: &[u8]| {
    // SQS bodies are UTF-8 text: nothing else reaches the sender.
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    match validators().parse(body) {
        Ok(command) => {
            let _ = command.send_body(None, None);
            let _ = command.send_body(command.fallback.as_ref(), Some("+5511987654321"));
            if let Some(to) = &command.to {
                let _ = (to.rate_key(), to.masked(), to.identity().alias_keys());
            }
        }
        Err(invalid) => {
            let _ = invalid.rejection.reason.as_str();
        }
    }
});
