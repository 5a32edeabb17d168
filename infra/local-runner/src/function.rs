//! A function as Lambda runs it: execution environments started on demand (a cold start when
//! none is idle), reused while warm, at most `max_environments` at once; an environment that
//! timed out or crashed is thrown away and a later invocation starts a fresh one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::clock::LocalClock;
use crate::environment::{Environment, InvokeError, Launch};

/// Invocations cut at their function's timeout, per function (binary name), so a test can
/// assert that none was.
#[derive(Debug, Clone, Default)]
pub struct Timeouts(Arc<Mutex<BTreeMap<String, usize>>>);

impl Timeouts {
    fn count_one(&self, function: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(function.to_owned()).or_default() += 1;
        }
    }

    /// How many invocations of `function` timed out so far.
    pub fn of(&self, function: &str) -> usize {
        self.0
            .lock()
            .map(|counts| counts.get(function).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// How one function is run.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The binary name (`sender`), as counted in [`Timeouts`].
    pub name: String,
    pub launch: Launch,
    /// The template's `Timeout` (or a test's shorter one).
    pub timeout: Duration,
    /// Execution environments alive at once; an invocation past them waits for one.
    pub max_environments: usize,
    /// The template's `MemorySize`, which Lambda bills duration by.
    pub memory_mb: u64,
}

/// What Lambda would bill one function for so far: requests, and duration rounded up to the
/// millisecond per invocation (a cold start's init included, as Lambda bills it since 2025-08).
/// Measured on this machine against the local AWS, so an upper bound for AWS's faster services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// The role session's access key id (an identifier, not a secret), by which moto's request
    /// recorder tells this function's AWS calls from everyone else's.
    pub access_key_id: String,
    pub memory_mb: u64,
    pub invocations: u64,
    pub billed_ms: u64,
    pub cold_starts: u64,
}

/// A function with its pool of environments. Dropping it kills every environment.
pub struct Function {
    config: FunctionConfig,
    clock: LocalClock,
    idle: Mutex<Vec<Environment>>,
    slots: Semaphore,
    timeouts: Timeouts,
    started: AtomicUsize,
    busy_pids: Mutex<Vec<u32>>,
    usage: Mutex<Usage>,
}

impl Function {
    pub fn new(config: FunctionConfig, clock: LocalClock, timeouts: Timeouts) -> Self {
        let slots = Semaphore::new(config.max_environments.max(1));
        let memory_mb = config.memory_mb;
        let access_key_id = config
            .launch
            .env
            .get("AWS_ACCESS_KEY_ID")
            .cloned()
            .unwrap_or_default();
        Self {
            config,
            clock,
            idle: Mutex::new(Vec::new()),
            slots,
            timeouts,
            started: AtomicUsize::new(0),
            busy_pids: Mutex::new(Vec::new()),
            usage: Mutex::new(Usage {
                access_key_id,
                memory_mb,
                ..Usage::default()
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Starts one environment and waits for its init phase, so a function that cannot start
    /// (missing binary, bad configuration) says so before any event reaches it.
    pub async fn warm_up(&self) -> Result<(), InvokeError> {
        let _slot = self.slots.acquire().await;
        let mut env = self.start_environment().await?;
        env.initialised().await?;
        self.park(env);
        Ok(())
    }

    /// One synchronous invocation with `payload`, in an idle environment or a new one.
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        let _slot = self.slots.acquire().await;
        let began = Instant::now();
        let (mut env, cold) = match self.take_idle() {
            Some(env) => (env, false),
            None => (self.start_environment().await?, true),
        };
        let pid = env.pid();
        self.note_busy(pid, true);
        let result = env.invoke(payload, self.config.timeout).await;
        self.note_busy(pid, false);
        self.bill(began.elapsed(), cold);
        match &result {
            Ok(_) | Err(InvokeError::Function { .. }) if env.is_alive() => self.park(env),
            Err(InvokeError::TimedOut { .. }) => self.timeouts.count_one(&self.config.name),
            _ => {} // dropped: a later invocation starts a fresh environment
        }
        result
    }

    /// Process ids of this function's live environments, idle or busy.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .idle
            .lock()
            .map(|idle| idle.iter().filter_map(Environment::pid).collect())
            .unwrap_or_default();
        if let Ok(busy) = self.busy_pids.lock() {
            pids.extend(busy.iter().copied());
        }
        pids
    }

    /// Billed use so far (a cost script reads the difference over its workload).
    pub fn usage(&self) -> Usage {
        self.usage.lock().map(|u| u.clone()).unwrap_or_default()
    }

    fn bill(&self, took: Duration, cold: bool) {
        let Ok(mut usage) = self.usage.lock() else {
            return;
        };
        usage.invocations += 1;
        usage.billed_ms += u64::try_from(took.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        usage.cold_starts += u64::from(cold);
    }

    /// Environments started so far (cold starts).
    pub fn cold_starts(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    async fn start_environment(&self) -> Result<Environment, InvokeError> {
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let mut launch = self.config.launch.clone();
        // Lambda names a log stream per environment.
        launch.env.insert(
            "AWS_LAMBDA_LOG_STREAM_NAME".into(),
            format!("local/[$LATEST]{n:032x}"),
        );
        tracing::debug!(function = %self.config.name, environment = n, "cold start");
        Environment::start(&launch, &self.clock).await
    }

    fn take_idle(&self) -> Option<Environment> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(env) = idle.pop() {
            if env.is_alive() {
                return Some(env);
            }
        }
        None
    }

    fn park(&self, env: Environment) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(env);
        }
    }

    fn note_busy(&self, pid: Option<u32>, busy: bool) {
        let (Some(pid), Ok(mut pids)) = (pid, self.busy_pids.lock()) else {
            return;
        };
        if busy {
            pids.push(pid);
        } else {
            pids.retain(|p| *p != pid);
        }
    }
}
