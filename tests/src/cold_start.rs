//! A Lambda binary's cold start as Lambda counts init: from spawning the process to its first
//! Runtime API request, `GET /2018-06-01/runtime/invocation/next`, which it sends once `main`
//! has read its config and built its clients. A one-shot listener plays the Runtime API: it
//! notes when that request arrives and answers nothing.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The Runtime API path a ready function asks for its next invocation on.
pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";

/// Longest request head read before giving up on finding its end.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How often the probe looks whether the process died before asking.
const EXIT_POLL: Duration = Duration::from_millis(2);

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot listen for the Runtime API: {0}")]
    Listen(#[source] std::io::Error),
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{binary} exited ({status}) before asking for an invocation; stderr: {stderr}")]
    Exited {
        binary: PathBuf,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{binary} did not ask for an invocation within {timeout:?}")]
    Timeout { binary: PathBuf, timeout: Duration },
    #[error("{binary}'s first Runtime API request was `{line}`, not `GET {NEXT_PATH}`")]
    NotNext { binary: PathBuf, line: String },
    #[error("{binary}: reading its first Runtime API request: {reason}")]
    Request { binary: PathBuf, reason: String },
}

/// Runs `binary` once with exactly `env` (plus `AWS_LAMBDA_RUNTIME_API`) and returns the time
/// from spawn to its first `next` request; the process is killed afterwards.
pub fn probe(
    binary: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Duration, ProbeError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(ProbeError::Listen)?;
    let addr = listener.local_addr().map_err(ProbeError::Listen)?;
    let (tx, rx) = mpsc::channel();
    // Blocking accept on its own thread: the instant is taken where the request is read, not
    // at the next poll of a loop.
    std::thread::spawn(move || {
        let _ = tx.send(first_request(&listener, timeout));
    });
    let mut command = Command::new(binary);
    command
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| ProbeError::Spawn {
        binary: binary.to_owned(),
        source,
    })?;
    let outcome = wait_for_next(binary, &mut child, &rx, started, timeout);
    let _ = child.kill();
    let status = child.wait();
    if outcome.is_err() {
        wake(addr);
    }
    match outcome {
        Err(Waited::Exited) => Err(ProbeError::Exited {
            binary: binary.to_owned(),
            status: status.map_err(|source| ProbeError::Spawn {
                binary: binary.to_owned(),
                source,
            })?,
            stderr: stderr_of(&mut child),
        }),
        Err(Waited::Failed(err)) => Err(err),
        Ok(at) => Ok(at.saturating_duration_since(started)),
    }
}

enum Waited {
    Exited,
    Failed(ProbeError),
}

fn wait_for_next(
    binary: &Path,
    child: &mut Child,
    rx: &mpsc::Receiver<Result<(Instant, String), String>>,
    started: Instant,
    timeout: Duration,
) -> Result<Instant, Waited> {
    loop {
        match rx.recv_timeout(EXIT_POLL) {
            Ok(Ok((at, line))) => {
                return if is_next(&line) {
                    Ok(at)
                } else {
                    Err(Waited::Failed(ProbeError::NotNext {
                        binary: binary.to_owned(),
                        line,
                    }))
                };
            }
            Ok(Err(reason)) => {
                return Err(Waited::Failed(ProbeError::Request {
                    binary: binary.to_owned(),
                    reason,
                }))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Waited::Failed(ProbeError::Request {
                    binary: binary.to_owned(),
                    reason: "the listener stopped".to_owned(),
                }))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Ok(Some(_)) = child.try_wait() {
            return Err(Waited::Exited);
        }
        if started.elapsed() > timeout {
            return Err(Waited::Failed(ProbeError::Timeout {
                binary: binary.to_owned(),
                timeout,
            }));
        }
    }
}

/// `GET <NEXT_PATH> HTTP/1.1` (a query string would still be the same resource).
fn is_next(line: &str) -> bool {
    let mut parts = line.split(' ');
    parts.next() == Some("GET")
        && parts
            .next()
            .is_some_and(|target| target.split('?').next() == Some(NEXT_PATH))
}

/// Accepts one connection and reads its request head; returns when it ended and its first line.
fn first_request(listener: &TcpListener, timeout: Duration) -> Result<(Instant, String), String> {
    let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD_BYTES {
            return Err(format!("no end of head in {MAX_HEAD_BYTES} bytes"));
        }
        match stream.read(&mut buf).map_err(|e| e.to_string())? {
            0 => return Err("connection closed before a full request head".to_owned()),
            n => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let at = Instant::now();
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((at, line))
}

/// Unblocks the accept of a probe that ended without a request, so its thread ends too.
fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
}

/// The last 2 KiB of the dead process's stderr, for the error.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    let tail: String = text
        .chars()
        .rev()
        .take(2048)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tail.trim().to_owned()
}

/// The median of `samples` (the upper one of an even count); `None` when empty.
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A bash script as the "function": it reaches the Runtime API through bash's /dev/tcp.
    fn run_script(script: &str, timeout: Duration) -> Result<Duration, ProbeError> {
        let dir = std::env::temp_dir().join(format!("cold-start-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bootstrap");
        std::fs::write(&path, format!("#!/bin/bash\n{script}\n")).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
        let result = probe(&path, &BTreeMap::new(), timeout);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    const CONNECT: &str = r#"host=${AWS_LAMBDA_RUNTIME_API%:*}; port=${AWS_LAMBDA_RUNTIME_API##*:}
exec 3<>"/dev/tcp/$host/$port""#;

    #[test]
    fn measures_the_time_to_the_first_next_request() {
        let script = format!(
            "sleep 0.2\n{CONNECT}\nprintf 'GET {NEXT_PATH} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&3\nsleep 10"
        );
        let took = run_script(&script, TIMEOUT).unwrap();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < TIMEOUT, "{took:?}");
    }

    #[test]
    fn a_process_that_exits_first_fails_with_its_stderr() {
        let err = run_script("echo 'missing INBOUND_QUEUE_URL' >&2; exit 3", TIMEOUT).unwrap_err();
        assert!(matches!(err, ProbeError::Exited { .. }), "{err}");
        assert!(err.to_string().contains("INBOUND_QUEUE_URL"), "{err}");
    }

    #[test]
    fn a_process_that_never_asks_times_out() {
        let err = run_script("sleep 10", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, ProbeError::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_first_request_other_than_next_is_an_error() {
        let script = format!(
            "{CONNECT}\nprintf 'POST /2018-06-01/runtime/init/error HTTP/1.1\\r\\n\\r\\n' >&3\nsleep 10"
        );
        let err = run_script(&script, TIMEOUT).unwrap_err();
        assert!(matches!(err, ProbeError::NotNext { .. }), "{err}");
    }

    #[test]
    fn a_connection_closed_before_a_whole_request_is_an_error() {
        let script = format!("{CONNECT}\nprintf 'GET {NEXT_PATH}' >&3\nexec 3>&-\nsleep 10");
        let err = run_script(&script, TIMEOUT).unwrap_err();
        assert!(matches!(err, ProbeError::Request { .. }), "{err}");
    }

    #[test]
    fn a_binary_that_does_not_exist_cannot_start() {
        let err = probe(
            Path::new("/nonexistent/bootstrap"),
            &BTreeMap::new(),
            TIMEOUT,
        )
        .unwrap_err();
        assert!(matches!(err, ProbeError::Spawn { .. }), "{err}");
    }

    #[test]
    fn median_takes_the_middle_sample() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(9), ms(1), ms(5)]), Some(ms(5)));
        assert_eq!(median(&[ms(4), ms(1), ms(3), ms(2)]), Some(ms(3)));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn only_a_get_of_next_counts() {
        assert!(is_next(&format!("GET {NEXT_PATH} HTTP/1.1")));
        assert!(is_next(&format!("GET {NEXT_PATH}?x=1 HTTP/1.1")));
        assert!(!is_next(&format!("POST {NEXT_PATH} HTTP/1.1")));
        assert!(!is_next(
            "GET /2018-06-01/runtime/invocation/next/x HTTP/1.1"
        ));
        assert!(!is_next(""));
    }
}
