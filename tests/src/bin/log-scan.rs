//! `log-scan LOG_CAPTURE INPUTS_LEDGER EVENTS_DIR`: fails (exit 1) when a captured log line holds
//! a phone number, text, name or secret the test suite used; prints how many lines it scanned.

use std::path::PathBuf;
use std::process::ExitCode;

use e2e_tests::log_scan::Sensitive;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [logs, ledger, events] = args.as_slice() else {
        eprintln!("usage: log-scan LOG_CAPTURE INPUTS_LEDGER EVENTS_DIR");
        return ExitCode::from(2);
    };
    let sensitive = match Sensitive::load(ledger, events) {
        Ok(s) => s,
        Err(err) => {
            eprintln!(
                "log scan: cannot read {} or {}: {err}",
                ledger.display(),
                events.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let text = match std::fs::read(logs) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) => {
            eprintln!("log scan: cannot read {}: {err}", logs.display());
            return ExitCode::FAILURE;
        }
    };
    let (lines, findings) = sensitive.scan(text.lines());
    println!(
        "log scan: {lines} log lines scanned for {} phone forms, {} texts, {} names, {} secrets",
        sensitive.phones.len(),
        sensitive.texts.len(),
        sensitive.names.len(),
        sensitive.secrets.len()
    );
    if lines == 0 || sensitive.phones.is_empty() || sensitive.texts.is_empty() {
        eprintln!(
            "log scan: nothing to scan (no captured lines or no inputs): the capture is not wired"
        );
        return ExitCode::FAILURE;
    }
    for f in &findings {
        eprintln!(
            "log scan: {}:{}: {} {}",
            logs.display(),
            f.line,
            f.kind,
            f.masked
        );
    }
    if findings.is_empty() {
        println!("log scan: no phone number, text, name or secret in any line");
        ExitCode::SUCCESS
    } else {
        eprintln!("log scan: {} findings", findings.len());
        ExitCode::FAILURE
    }
}
