//! One execution environment: a function's compiled binary running as a child process, talking
//! to a Runtime API of its own ([`crate::runtime_api`]). It serves one invocation at a time, as
//! in Lambda; at its deadline the runner kills the process (Lambda resets the environment), and
//! a process that exits (init error, crash) fails the invocation it held.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::clock::LocalClock;
use crate::runtime_api::{self, FunctionIdentity, Invocation, Outcome, RuntimeApi};

/// Lambda gives a function's init phase 10 s before it fails the environment.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a new environment runs.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    /// The whole process environment (nothing is inherited from the runner).
    pub env: BTreeMap<String, String>,
    pub identity: FunctionIdentity,
}

/// Why an invocation gave no response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the function returned an error")]
    Function { body: Bytes },
    #[error(
        "the invocation ran past the function's timeout ({timeout:?}); its environment was killed"
    )]
    TimedOut { timeout: Duration },
    #[error("the function's process ended ({status}) during its invocation")]
    Crashed { status: String },
    #[error("the function did not finish its init phase within {INIT_TIMEOUT:?}")]
    InitTimedOut,
    #[error("could not start the function's process")]
    Spawn(#[source] std::io::Error),
    #[error("the event or the answer is not the JSON the function's runtime speaks")]
    Encoding(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A live environment. Dropping it kills its process.
pub struct Environment {
    pid: Option<u32>,
    events: mpsc::Sender<Invocation>,
    exited: watch::Receiver<Option<String>>,
    api: RuntimeApi,
    kill: Option<oneshot::Sender<()>>,
}

impl Environment {
    /// Serves a Runtime API and starts the binary against it; does not wait for its init.
    pub async fn start(launch: &Launch, clock: &LocalClock) -> Result<Self, InvokeError> {
        let (events, events_rx) = mpsc::channel(1);
        let api = runtime_api::serve(events_rx, launch.identity.clone(), clock.clone())
            .await
            .map_err(InvokeError::Spawn)?;
        let mut command = tokio::process::Command::new(&launch.binary);
        command
            .env_clear()
            .envs(&launch.env)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(InvokeError::Spawn)?;
        let pid = child.id();
        let (exited_tx, exited) = watch::channel(None);
        let (kill, kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                // Killed on purpose, or the environment was dropped.
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let status = match status {
                Ok(s) => s.to_string(),
                Err(err) => format!("unknown status: {err}"),
            };
            exited_tx.send_replace(Some(status));
        });
        Ok(Self {
            pid,
            events,
            exited,
            api,
            kill: Some(kill),
        })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid.filter(|_| self.is_alive())
    }

    /// Whether the process still runs.
    pub fn is_alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    /// Waits until the function asks for its first event (its init phase is over).
    pub async fn initialised(&mut self) -> Result<(), InvokeError> {
        let mut ready = self.api.ready.clone();
        let mut exited = self.exited.clone();
        tokio::select! {
            r = async move { ready.wait_for(|r| *r).await.map(|_| ()) } => r.map_err(|_| self.crashed()),
            _ = ended(&mut exited) => Err(self.crashed()),
            _ = tokio::time::sleep(INIT_TIMEOUT) => Err(InvokeError::InitTimedOut),
        }
    }

    /// One invocation: hands `payload` to the function and waits for its outcome until the
    /// deadline (`timeout` after the function took the event). Past it the process is killed.
    pub async fn invoke(
        &mut self,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        let request_id = request_id();
        let (handed_out, handed_rx) = oneshot::channel();
        let (outcome, outcome_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id,
            payload,
            timeout,
            handed_out,
            outcome,
        };
        if self.events.send(invocation).await.is_err() {
            return Err(self.crashed());
        }
        let mut exited = self.exited.clone();
        let deadline: Instant = tokio::select! {
            d = handed_rx => d.map_err(|_| self.crashed())?,
            _ = ended(&mut exited) => return Err(self.crashed()),
            _ = tokio::time::sleep(INIT_TIMEOUT) => {
                self.kill().await;
                return Err(InvokeError::InitTimedOut);
            }
        };
        let outcome = tokio::select! {
            o = outcome_rx => o.map_err(|_| self.crashed())?,
            _ = ended(&mut exited) => return Err(self.crashed()),
            _ = tokio::time::sleep_until(deadline) => {
                self.kill().await;
                return Err(InvokeError::TimedOut { timeout });
            }
        };
        match outcome {
            Outcome::Response(body) => Ok(body),
            Outcome::Error(body) => Err(InvokeError::Function { body }),
        }
    }

    /// Kills the process and waits until it is gone.
    async fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        ended(&mut self.exited).await;
    }

    fn crashed(&self) -> InvokeError {
        let status = self
            .exited
            .borrow()
            .clone()
            .unwrap_or_else(|| "still running".to_owned());
        let init_error = self
            .api
            .init_error
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()));
        InvokeError::Crashed {
            status: match init_error {
                Some(reported) => format!("{status}; init error {reported}"),
                None => status,
            },
        }
    }
}

/// Resolves once the process has exited.
async fn ended(exited: &mut watch::Receiver<Option<String>>) {
    let _ = exited.wait_for(Option::is_some).await.map(|_| ());
}

/// A Lambda request id: a random UUID v4, as Lambda's are. No counter in it: zero-padded, a
/// counter reads as a phone number to a log scan.
fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod request_id_tests {
    use super::request_id;

    /// Lambda's request ids are random UUIDs. A counter in one, zero-padded, is a long run of
    /// zeros and digits that reads as a test phone number to `make test`'s log scan (it did:
    /// `…-8119-000000000002` matched `11 90000-0000`).
    #[test]
    fn a_request_id_is_a_random_uuid_without_a_counter() {
        let ids: Vec<String> = (0..100).map(|_| request_id()).collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert!(!id.contains("0000000"), "a zero-padded field in {id}");
        }
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
