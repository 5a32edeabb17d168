//! The whole local system in one process: provisions moto from `template.yaml`, gives each
//! function the environment the template declares for it, and plays AWS around the real
//! handlers (API Gateway, the SQS event source mappings, the schedule) next to the Graph API
//! simulator.

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

use crate::{apigw, esm, handlers};

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
    /// `MetaSecret` and the sender's `MetaAccessSecret`.
    fn secret_values(&self) -> BTreeMap<String, String> {
        let app = serde_json::json!({
            "app_secret": self.app_secret.expose_secret(),
            "verify_token": self.verify_token.expose_secret(),
        });
        let access = serde_json::json!({ "access_token": self.access_token.expose_secret() });
        BTreeMap::from([
            ("MetaSecret".to_owned(), app.to_string()),
            ("MetaAccessSecret".to_owned(), access.to_string()),
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
    #[error("function {function} is misconfigured")]
    Config {
        function: String,
        #[source]
        source: ConfigError,
    },
    #[error("function {function} could not start")]
    Start {
        function: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("could not give the functions their template roles")]
    Iam(#[from] local_aws::iam::IamError),
    #[error("template.yaml declares no function for binary {0}")]
    MissingFunction(String),
    #[error("template.yaml maps an event source to {0}, which the runner cannot play")]
    UnknownFunction(String),
}

/// A running local system. Dropping it without [`RunningStack::shutdown`] aborts its tasks.
pub struct RunningStack {
    pub api_url: String,
    pub sim_url: String,
    pub model: Model,
    pub provisioned: Provisioned,
    pub simulator: graph_sim::Simulator,
    functions: BTreeMap<String, Function>,
    timeouts: esm::Timeouts,
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
        self.functions.get(function).map(|f| &f.env)
    }

    /// The SDK configuration `function` (binary name) runs with: its role's credentials.
    pub fn function_sdk_config(&self, function: &str) -> Option<&aws_config::SdkConfig> {
        self.functions.get(function).map(|f| &f.sdk)
    }

    /// The local name of `function`'s role (`<prefix><RoleLogicalId>`), as IAM denials name it.
    pub fn role_name(&self, function: &str) -> Option<&str> {
        self.functions.get(function).map(|f| f.role_name.as_str())
    }

    /// Stops every task and waits for in-flight invocations to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
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
    let functions = functions(&opts, &sdk, &model, &provisioned, &parameters, &region).await?;
    let function = |binary: &str| {
        functions
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
    let simulator = graph_sim::Simulator::new(sim_config);
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

    // API Gateway → webhook.
    let webhook_fn = function("webhook")?;
    let webhook_config = webhook::Config::from_env(&Env::from_map(webhook_fn.env.clone()))
        .map_err(|source| StackError::Config {
            function: "webhook".into(),
            source,
        })?;
    let webhook = Arc::new(handlers::Webhook(webhook::LiveState::live(
        &webhook_config,
        &webhook_fn.sdk,
    )));
    let mut rx = shutdown_rx.clone();
    tasks.spawn(async move {
        let stop = async move {
            let _ = rx.changed().await;
        };
        let served = axum::serve(api_listener, apigw::router(webhook))
            .with_graceful_shutdown(stop)
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "API Gateway stand-in stopped");
        }
    });

    // SQS event source mappings, as the template declares them. Lambda polls with the
    // function's execution role, so the mapping does too.
    let timeouts = esm::Timeouts::default();
    for source in model
        .event_sources
        .iter()
        .filter(|s| !opts.paused.contains(&s.binary))
    {
        let mapping = esm::Mapping {
            name: format!("{}<-{}", source.binary, source.queue_logical_id),
            function: source.binary.clone(),
            queue_url: provisioned.queue_url(&source.queue_logical_id)?.to_owned(),
            queue_arn: provisioned.queue_arn(&source.queue_logical_id)?.to_owned(),
            batch_size: i32::try_from(source.batch_size).unwrap_or(10),
            // The template's Timeout: past it Lambda would kill the invocation and SQS redeliver.
            function_timeout: match opts.function_timeouts.get(&source.binary) {
                Some(shorter) => *shorter,
                None => model
                    .function_by_binary(&source.binary)
                    .map(|f| f.timeout)
                    .ok_or_else(|| StackError::MissingFunction(source.binary.clone()))?,
            },
            pollers: 5,
            region: region.clone(),
            timeouts: timeouts.clone(),
        };
        let consumer = function(&source.binary)?;
        handlers::spawn_consumer(
            &source.binary,
            Env::from_map(consumer.env.clone()),
            &consumer.sdk,
            aws_sdk_sqs::Client::new(&consumer.sdk),
            mapping,
            shutdown_rx.clone(),
            &mut tasks,
        )
        .await?;
    }

    // The schedule.
    for schedule in model
        .schedules
        .iter()
        .filter(|s| !opts.paused.contains(&s.binary))
    {
        let scheduled = function(&schedule.binary)?;
        handlers::spawn_scheduled(
            &schedule.binary,
            Env::from_map(scheduled.env.clone()),
            &scheduled.sdk,
            opts.alert_interval,
            shutdown_rx.clone(),
            &mut tasks,
        )
        .await?;
    }

    Ok(RunningStack {
        api_url,
        sim_url,
        model,
        provisioned,
        simulator,
        functions,
        timeouts,
        shutdown,
        tasks,
    })
}

/// What the stack gives one function: its environment (the template's, the operator's
/// overrides, then its role session's credentials, which Lambda does not let a template override)
/// and the SDK configuration built from that environment's credentials.
struct Function {
    role_name: String,
    env: BTreeMap<String, String>,
    sdk: aws_config::SdkConfig,
}

/// Each function's role from the template (SAM's translator), a fresh session of it registered
/// with the local AWS, and the function's environment and SDK configuration with it.
async fn functions(
    opts: &StackOptions,
    sdk: &aws_config::SdkConfig,
    model: &Model,
    provisioned: &Provisioned,
    parameters: &Parameters,
    region: &str,
) -> Result<BTreeMap<String, Function>, StackError> {
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
            Function {
                role_name,
                env,
                sdk,
            },
        );
    }
    Ok(out)
}

/// The runner's SDK configuration (endpoints, region) signing with the credentials in the
/// function's environment, as the function's own binary would load them.
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

async fn bind(addr: SocketAddr) -> Result<TcpListener, StackError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StackError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}
