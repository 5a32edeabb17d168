//! The whole local system: provisions moto from `template.yaml`, runs each function's compiled
//! binary behind a Runtime API of the runner's with the environment the template declares for
//! it, and plays AWS around them (API Gateway, the SQS event source mappings, the schedule) next
//! to the Graph API simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use local_aws::iam::{self, SessionCredentials};
use local_aws::{Clients, Model, Parameters, Provisioned, Template};
use secrecy::{ExposeSecret, SecretString};
use shared::config::{ConfigError, Env};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::binaries::{self, BinaryError};
use crate::clock::LocalClock;
use crate::environment::{InvokeError, Launch};
use crate::function::{Function, FunctionConfig, Timeouts};
use crate::runtime_api::FunctionIdentity;
use crate::{apigw, esm, schedule};

/// Concurrent pollers per SQS event source (Lambda starts five and scales from there); each
/// needs an execution environment of its own.
const POLLERS: usize = 5;

/// Execution environments the webhook may have at once behind API Gateway.
const WEBHOOK_ENVIRONMENTS: usize = 8;

/// What an operator may set for a local run; every field has a documented default.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// API Gateway stand-in (default 127.0.0.1:3000; port 0 picks a free one).
    pub api_addr: SocketAddr,
    /// Graph API simulator (default 127.0.0.1:3001).
    pub sim_addr: SocketAddr,
    /// Prefix for every table, queue and secret name (default empty: `crm-events.fifo`, …).
    pub resource_prefix: String,
    pub verify_token: SecretString,
    pub app_secret: SecretString,
    pub access_token: SecretString,
    /// The sender's privacy key (`PrivacySecret`'s `hash_key`).
    pub privacy_key: SecretString,
    /// How often window-alerts runs (default 30 s).
    pub alert_interval: Duration,
    /// Delay before each simulated status webhook (default 200 ms).
    pub status_delay: Duration,
    /// Whether the simulator follows each accepted message with `sent`/`delivered`/`read`
    /// webhooks (default on; tests that deliver statuses themselves turn it off).
    pub simulated_statuses: bool,
    /// Functions (by binary) whose event sources and schedules are not played, so a test can
    /// look at one stage's output queue before the next stage consumes it.
    pub paused: Vec<String>,
    /// Variables set in every function's environment over the template's values
    /// ([`PASSED_TO_FUNCTIONS`] from the runner's own environment), so a rotation can be tried
    /// in seconds: `SECRETS_REFRESH_SECONDS=2 PREVIOUS_SECRET_GRACE_SECONDS=20 make run`.
    pub function_env: BTreeMap<String, String>,
    /// Timeouts (by binary) in place of the template's `Timeout`, for tests that need a deadline
    /// reached in seconds; empty for `make run`.
    pub function_timeouts: BTreeMap<String, Duration>,
    /// The SAM template the stack is built from (default: the workspace's `template.yaml`);
    /// tests point it at an edited copy to see what a change to the template does.
    pub template: PathBuf,
}

/// What `make run` passes from its own environment to every function when set.
pub const PASSED_TO_FUNCTIONS: &[&str] = &[
    "SECRETS_REFRESH_SECONDS",
    "PREVIOUS_SECRET_GRACE_SECONDS",
    "RUST_LOG",
    "EXTERNAL_STATUS_PARK_SECONDS",
];

impl StackOptions {
    /// Reads `LOCAL_*` overrides from `env`; see README "Local endpoints and defaults".
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let secret = |name, default: &str| -> Result<SecretString, ConfigError> {
            Ok(env.parsed_or(name, default.to_owned())?.into())
        };
        Ok(Self {
            api_addr: env.parsed_or("LOCAL_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 3000)))?,
            sim_addr: env.parsed_or("LOCAL_SIM_ADDR", SocketAddr::from(([127, 0, 0, 1], 3001)))?,
            resource_prefix: env.parsed_or("LOCAL_RESOURCE_PREFIX", String::new())?,
            verify_token: secret("LOCAL_VERIFY_TOKEN", "local-verify-token")?,
            app_secret: secret("LOCAL_APP_SECRET", "local-app-secret")?,
            access_token: secret("LOCAL_ACCESS_TOKEN", "local-access-token")?,
            privacy_key: secret("LOCAL_PRIVACY_KEY", "local-privacy-key")?,
            alert_interval: env
                .seconds_or("LOCAL_ALERT_INTERVAL_SECONDS", Duration::from_secs(30))?,
            status_delay: Duration::from_millis(env.parsed_or("LOCAL_STATUS_DELAY_MS", 200)?),
            simulated_statuses: env.parsed_or("LOCAL_SIM_STATUSES", true)?,
            paused: env
                .parsed_or("LOCAL_PAUSED_FUNCTIONS", String::new())?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            function_env: PASSED_TO_FUNCTIONS
                .iter()
                .filter_map(|name| {
                    let value: String = env.parsed_or(name, String::new()).ok()?;
                    (!value.is_empty()).then(|| ((*name).to_owned(), value))
                })
                .collect(),
            function_timeouts: BTreeMap::new(),
            template: local_aws::workspace_template_path(),
        })
    }

    /// Defaults with free ports and a unique resource prefix, for tests sharing one moto.
    pub fn for_tests(prefix: &str) -> Self {
        let mut opts =
            Self::from_env(&Env::from_map(BTreeMap::new())).unwrap_or_else(|_| unreachable!());
        opts.api_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        opts.sim_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        opts.resource_prefix = prefix.to_owned();
        opts.status_delay = Duration::from_millis(50);
        opts.alert_interval = Duration::from_secs(1);
        opts
    }

    /// One value per template secret, in the JSON shapes the README documents: the webhook's
    /// `MetaSecret` and the sender's `MetaAccessSecret` and `PrivacySecret`.
    fn secret_values(&self) -> BTreeMap<String, String> {
        let app = serde_json::json!({
            "app_secret": self.app_secret.expose_secret(),
            "verify_token": self.verify_token.expose_secret(),
        });
        let access = serde_json::json!({ "access_token": self.access_token.expose_secret() });
        let privacy = serde_json::json!({ "hash_key": self.privacy_key.expose_secret() });
        BTreeMap::from([
            ("MetaSecret".to_owned(), app.to_string()),
            ("MetaAccessSecret".to_owned(), access.to_string()),
            ("PrivacySecret".to_owned(), privacy.to_string()),
        ])
    }
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("could not read template.yaml")]
    Template(#[from] local_aws::TemplateError),
    #[error("could not provision the local emulator (is moto running at AWS_ENDPOINT_URL?)")]
    Provision(#[from] local_aws::ProvisionError),
    #[error("template.yaml names a resource provisioning did not create")]
    Lookup(#[from] local_aws::LookupError),
    #[error("could not listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("function {function} could not start")]
    Start {
        function: String,
        #[source]
        source: InvokeError,
    },
    #[error("could not give the functions their template roles")]
    Iam(#[from] local_aws::iam::IamError),
    #[error("the function binaries cannot be run")]
    Binary(#[from] BinaryError),
    #[error("could not create the functions' clock file")]
    Clock(#[source] std::io::Error),
    #[error("template.yaml declares no function for binary {0}")]
    MissingFunction(String),
}

/// A running local system. Dropping it without [`RunningStack::shutdown`] aborts its tasks and
/// kills every function process.
pub struct RunningStack {
    pub api_url: String,
    pub sim_url: String,
    pub model: Model,
    pub provisioned: Provisioned,
    pub simulator: graph_sim::Simulator,
    roles: BTreeMap<String, FunctionRole>,
    functions: BTreeMap<String, Arc<Function>>,
    clock: LocalClock,
    timeouts: Timeouts,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningStack {
    /// The URL Meta would call: `<api_url>/webhook`.
    pub fn webhook_url(&self) -> String {
        format!("{}/webhook", self.api_url)
    }

    /// How many invocations of `function` (binary name: `sender`, `processor`) the runner cut at
    /// the template's `Timeout` so far.
    pub fn timed_out_invocations(&self, function: &str) -> usize {
        self.timeouts.of(function)
    }

    /// The environment the stack gives `function` (binary name), its role's credentials included.
    pub fn function_environment(&self, function: &str) -> Option<&BTreeMap<String, String>> {
        self.roles.get(function).map(|f| &f.env)
    }

    /// The SDK configuration `function` (binary name) runs with: its role's credentials.
    pub fn function_sdk_config(&self, function: &str) -> Option<&aws_config::SdkConfig> {
        self.roles.get(function).map(|f| &f.sdk)
    }

    /// The local name of `function`'s role (`<prefix><RoleLogicalId>`), as IAM denials name it.
    pub fn role_name(&self, function: &str) -> Option<&str> {
        self.roles.get(function).map(|f| f.role_name.as_str())
    }

    /// The running function built from `binary` (not for paused ones).
    pub fn function(&self, binary: &str) -> Option<Arc<Function>> {
        self.functions.get(binary).cloned()
    }

    /// Process ids of every function environment alive now.
    pub fn function_pids(&self) -> Vec<u32> {
        self.functions.values().flat_map(|f| f.pids()).collect()
    }

    /// Moves the functions' clock forward (see [`LocalClock`]); the test process's own
    /// `shared::now_ms` does not move.
    pub fn travel_in_time(&self, by: Duration) -> std::io::Result<()> {
        self.clock.travel(by)
    }

    /// The functions' clock, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Stops every task, waits for in-flight invocations to finish, then kills the functions'
    /// processes.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.functions.clear();
    }
}

/// Provisions and starts everything.
pub async fn start(opts: StackOptions) -> Result<RunningStack, StackError> {
    let sdk = local_aws::local_sdk_config().await;
    let api_listener = bind(opts.api_addr).await?;
    let sim_listener = bind(opts.sim_addr).await?;
    let api_url = format!("http://{}", local_addr(&api_listener, opts.api_addr));
    let sim_url = format!("http://{}", local_addr(&sim_listener, opts.sim_addr));

    // The template is the source of truth; only where it points outside this machine
    // (Meta's Graph API) does the local run substitute the simulator.
    let parameters = Parameters::local()
        .with("ResourcePrefix", opts.resource_prefix.clone())
        .with("GraphApiBaseUrl", sim_url.clone());
    let model = Template::load(&opts.template)?.model(&parameters)?;
    let secret_values = opts.secret_values();
    for value in secret_values.values() {
        crate::inputs::secret(value);
    }
    let provisioned = local_aws::provision(&model, &Clients::new(&sdk), &secret_values).await?;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let roles = roles(&opts, &sdk, &model, &provisioned, &parameters, &region).await?;
    let role = |binary: &str| {
        roles
            .get(binary)
            .ok_or_else(|| StackError::MissingFunction(binary.to_owned()))
    };

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();

    // Graph API simulator, delivering webhooks to our API Gateway stand-in.
    let mut sim_config = graph_sim::SimConfig::new(
        opts.access_token.clone(),
        opts.app_secret.clone(),
        format!("{api_url}/webhook"),
    );
    sim_config.status_delay = opts.status_delay;
    sim_config.send_statuses = opts.simulated_statuses;
    // The functions' clock, shared with the simulator so time travel expires its media URLs.
    let clock = LocalClock::new().map_err(StackError::Clock)?;
    let sim_clock = clock.clone();
    let simulator =
        graph_sim::Simulator::with_clock(sim_config, Arc::new(move || sim_clock.now_ms()));
    let sim = simulator.clone();
    let mut rx = shutdown_rx.clone();
    tasks.spawn(async move {
        let stop = async move {
            let _ = rx.changed().await;
        };
        if let Err(err) = sim.serve_with_shutdown(sim_listener, stop).await {
            tracing::error!(error = %err, "graph API simulator stopped");
        }
    });

    // Every function that something invokes, as its compiled binary.
    let timeouts = Timeouts::default();
    let playing = |binary: &String| !opts.paused.contains(binary);
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    *wanted.entry("webhook".to_owned()).or_default() += WEBHOOK_ENVIRONMENTS;
    for source in model.event_sources.iter().filter(|s| playing(&s.binary)) {
        *wanted.entry(source.binary.clone()).or_default() += POLLERS;
    }
    for schedule in model.schedules.iter().filter(|s| playing(&s.binary)) {
        *wanted.entry(schedule.binary.clone()).or_default() += 1;
    }
    let bin_dir = binaries::bin_dir()?;
    let world = local_world(&clock);
    let mut functions = BTreeMap::new();
    for (binary, max_environments) in wanted {
        let spec = model
            .function_by_binary(&binary)
            .ok_or_else(|| StackError::MissingFunction(binary.clone()))?;
        let name = format!("{}{}", opts.resource_prefix, spec.logical_id);
        let mut env = world.clone();
        // The template's environment (and a test's overrides) over the local world, then the
        // credentials of the function's role, which win over the runner's own.
        env.extend(role(&binary)?.env.clone());
        env.extend(lambda_env(&name, spec.memory_mb, &region));
        let config = FunctionConfig {
            name: binary.clone(),
            launch: Launch {
                binary: binaries::function_binary(&bin_dir, &binary)?,
                env,
                identity: FunctionIdentity {
                    arn: format!(
                        "arn:aws:lambda:{region}:{}:function:{name}",
                        crate::handlers::LOCAL_ACCOUNT
                    ),
                },
            },
            // The template's Timeout: past it Lambda kills the invocation and SQS redelivers.
            timeout: opts
                .function_timeouts
                .get(&binary)
                .copied()
                .unwrap_or(spec.timeout),
            max_environments,
            memory_mb: spec.memory_mb,
        };
        functions.insert(
            binary,
            Arc::new(Function::new(config, clock.clone(), timeouts.clone())),
        );
    }
    // One cold start each before anything is served, so a function that cannot start (a bad
    // setting, a crash in main) fails the stack with its name instead of failing its events.
    let warmed = futures::future::join_all(
        functions
            .values()
            .map(|f| async move { (f.name(), f.warm_up().await) }),
    )
    .await;
    for (function, result) in warmed {
        result.map_err(|source| StackError::Start {
            function: function.to_owned(),
            source,
        })?;
    }

    // API Gateway → webhook.
    let webhook = functions
        .get("webhook")
        .cloned()
        .ok_or_else(|| StackError::MissingFunction("webhook".to_owned()))?;
    let mut rx = shutdown_rx.clone();
    let router =
        apigw::router(webhook, clock.clone()).merge(crate::usage::router(functions.clone()));
    tasks.spawn(async move {
        let stop = async move {
            let _ = rx.changed().await;
        };
        let served = axum::serve(api_listener, router)
            .with_graceful_shutdown(stop)
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "API Gateway stand-in stopped");
        }
    });

    // SQS event source mappings, as the template declares them. Lambda polls with the
    // function's execution role, so the mapping does too.
    for source in model.event_sources.iter().filter(|s| playing(&s.binary)) {
        let mapping = esm::Mapping {
            name: format!("{}<-{}", source.binary, source.queue_logical_id),
            queue_url: provisioned.queue_url(&source.queue_logical_id)?.to_owned(),
            queue_arn: provisioned.queue_arn(&source.queue_logical_id)?.to_owned(),
            batch_size: i32::try_from(source.batch_size).unwrap_or(10),
            pollers: POLLERS,
            region: region.clone(),
        };
        let function = functions
            .get(&source.binary)
            .cloned()
            .ok_or_else(|| StackError::MissingFunction(source.binary.clone()))?;
        tasks.spawn(esm::run(
            aws_sdk_sqs::Client::new(&role(&source.binary)?.sdk),
            mapping,
            function,
            shutdown_rx.clone(),
        ));
    }

    // The schedule.
    for rule in model.schedules.iter().filter(|s| playing(&s.binary)) {
        let function = functions
            .get(&rule.binary)
            .cloned()
            .ok_or_else(|| StackError::MissingFunction(rule.binary.clone()))?;
        let rule = schedule::Rule {
            arn: format!(
                "arn:aws:events:{region}:{}:rule/{}{}",
                crate::handlers::LOCAL_ACCOUNT,
                opts.resource_prefix,
                rule.function_logical_id
            ),
            region: region.clone(),
        };
        tasks.spawn(schedule::run(
            function,
            rule,
            clock.clone(),
            opts.alert_interval,
            shutdown_rx.clone(),
        ));
    }

    Ok(RunningStack {
        api_url,
        sim_url,
        model,
        provisioned,
        simulator,
        functions,
        roles,
        clock,
        timeouts,
        shutdown,
        tasks,
    })
}

/// What the stack gives one function: its environment (the template's, the operator's
/// overrides, then its role session's credentials, which Lambda does not let a template override)
/// and the SDK configuration built from that environment's credentials.
struct FunctionRole {
    role_name: String,
    env: BTreeMap<String, String>,
    sdk: aws_config::SdkConfig,
}

/// Each function's role from the template (SAM's translator), a fresh session of it registered
/// with the local AWS, and the function's environment and SDK configuration with it.
async fn roles(
    opts: &StackOptions,
    sdk: &aws_config::SdkConfig,
    model: &Model,
    provisioned: &Provisioned,
    parameters: &Parameters,
    region: &str,
) -> Result<BTreeMap<String, FunctionRole>, StackError> {
    let cfn = iam::expand_template(&iam::workspace_sam_python(), &opts.template).await?;
    let endpoints = iam::local_endpoints();
    let mut out = BTreeMap::new();
    for role in iam::roles(&cfn, provisioned, parameters, region)? {
        let spec = model
            .function_by_binary(&role.binary)
            .ok_or_else(|| StackError::MissingFunction(role.binary.clone()))?;
        let credentials = SessionCredentials::generate();
        crate::inputs::secret(&credentials.secret_access_key);
        crate::inputs::secret(&credentials.session_token);
        let role_name = format!("{}{}", opts.resource_prefix, role.role_logical_id);
        iam::register(&endpoints, &role_name, &role, &credentials).await?;
        let mut env = provisioned.environment(spec)?;
        env.extend(opts.function_env.clone());
        env.extend(credentials.environment());
        let sdk = function_sdk(sdk, &env);
        out.insert(
            role.binary.clone(),
            FunctionRole {
                role_name,
                env,
                sdk,
            },
        );
    }
    Ok(out)
}

/// The runner's SDK configuration (endpoints, region) signing with the credentials in the
/// function's environment: the event source mapping polls with it, as Lambda polls with the
/// execution role, and tests act as the function with it.
fn function_sdk(
    sdk: &aws_config::SdkConfig,
    env: &BTreeMap<String, String>,
) -> aws_config::SdkConfig {
    let var = |name: &str| env.get(name).cloned().unwrap_or_default();
    let credentials = aws_sdk_sqs::config::Credentials::new(
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        env.get("AWS_SESSION_TOKEN").cloned(),
        None,
        "function-environment",
    );
    sdk.to_builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

/// What the local world adds to every function's environment, from the runner's own: where AWS
/// is (the two motos: `AWS_ENDPOINT_URL` and each `AWS_ENDPOINT_URL_<SERVICE>`), credentials for
/// it (moto's `test` unless the runner has its own), log settings and the capture file `make
/// test` scans, and the functions' clock.
fn local_world(clock: &LocalClock) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, value)| {
            !value.is_empty()
                && (name.starts_with("AWS_ENDPOINT_URL")
                    || [
                        "AWS_ACCESS_KEY_ID",
                        "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN",
                        "RUST_LOG",
                        shared::telemetry::CAPTURE_FILE_VAR,
                    ]
                    .contains(&name.as_str()))
        })
        .collect();
    env.entry("AWS_ENDPOINT_URL".into())
        .or_insert_with(|| local_aws::DEFAULT_ENDPOINT.to_owned());
    if !env.contains_key("AWS_ACCESS_KEY_ID") {
        env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
        env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    }
    env.insert(
        shared::local_clock::CLOCK_FILE_VAR.into(),
        clock.file().to_string_lossy().into_owned(),
    );
    env
}

/// What Lambda itself sets in every execution environment (`lambda_runtime` reads several; the
/// Runtime API address and the log stream are set per environment).
fn lambda_env(name: &str, memory_mb: u64, region: &str) -> BTreeMap<String, String> {
    BTreeMap::from(
        [
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local/[$LATEST]0".to_owned()),
            ("AWS_REGION", region.to_owned()),
            ("AWS_DEFAULT_REGION", region.to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    )
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StackError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StackError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}
