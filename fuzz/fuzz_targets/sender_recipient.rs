//! A command's `to`: phone formats, country-code checks, wa_id variants and E.164, user ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sender::command::Recipient;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(to) = Recipient::parse(raw) {
        let _ = (to.rate_key(), to.masked());
        let identity = to.identity();
        let _ = (
            identity.alias_keys(),
            identity.new_contact_id("106540352242922"),
        );
        if let Some(wa) = &identity.wa_id {
            let _ = (wa.variants(), wa.canonical(), wa.e164(), wa.to_string());
        }
    }
});
