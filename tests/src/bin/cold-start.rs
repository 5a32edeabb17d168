//! `make bench`: each function's binary size and cold start.
//!
//! Cold start is from spawning the host release binary to its first Runtime API `next` request
//! ([`e2e_tests::cold_start`]), so `main` has read its config (`Config::from_env`) and built its
//! SDK clients, secrets cache and Graph client as in Lambda. Each function runs with the
//! template's environment, resolved against resources this run provisions on the local AWS
//! (`AWS_ENDPOINT_URL`, which `with-moto.sh` sets), plus the variables Lambda itself sets.
//! Sizes are the arm64 bootstraps of `make build` (`target/lambda/<binary>/bootstrap`).
//!
//! Usage: `cold-start [HOST_BIN_DIR] [LAMBDA_DIR]` (defaults `target/release`, `target/lambda`);
//! `COLD_START_RUNS` runs per function (21), after one unmeasured run that warms the page cache.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use e2e_tests::artifact::mib;
use e2e_tests::cold_start::{median, probe};
use local_aws::{
    one_value_for_each_secret, provision, workspace_template_path, Clients, FunctionSpec, Model,
    Parameters, Provisioned,
};
use shared::config::Env;

/// The cold-start target per function.
const TARGET: Duration = Duration::from_millis(15);
/// A process that has not asked for work after this long is reported as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The template's `Globals.Function.MemorySize`, which Lambda passes to the function.
const MEMORY_SIZE_MB: &str = "256";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let bin_dir = PathBuf::from(args.next().unwrap_or_else(|| "target/release".into()));
    let lambda_dir = PathBuf::from(args.next().unwrap_or_else(|| "target/lambda".into()));
    let default_runs = NonZeroUsize::new(21).unwrap_or(NonZeroUsize::MIN);
    let runs = match Env::process().parsed_or("COLD_START_RUNS", default_runs) {
        Ok(runs) => runs.get(),
        Err(err) => {
            eprintln!("cold-start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (model, provisioned) = match provisioned() {
        Ok(both) => both,
        Err(err) => {
            eprintln!("cold-start: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<14} {:>16} {:>12} {:>13} {:>9} {:>9}",
        "function", "arm64 bootstrap", "host binary", "cold start p50", "min", "max"
    );
    let mut failed = false;
    for function in &model.functions {
        match measure(function, &provisioned, &bin_dir, runs) {
            Ok(samples) => {
                let p50 = median(&samples).unwrap_or_default();
                let min = samples.iter().min().copied().unwrap_or_default();
                let max = samples.iter().max().copied().unwrap_or_default();
                println!(
                    "{:<14} {:>16} {:>12} {:>10.1} ms {:>6.1} ms {:>6.1} ms{}",
                    function.binary,
                    size_of(&lambda_dir.join(&function.binary).join("bootstrap")),
                    size_of(&bin_dir.join(&function.binary)),
                    ms(p50),
                    ms(min),
                    ms(max),
                    if p50 > TARGET {
                        "  over the 15 ms target"
                    } else {
                        ""
                    }
                );
            }
            Err(err) => {
                failed = true;
                println!("{:<14} FAILED: {err}", function.binary);
            }
        }
    }
    println!(
        "({runs} runs per function after one warm-up; host binaries in {})",
        bin_dir.display()
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Provisions the template's resources under a prefix of this run's own on the local AWS.
fn provisioned() -> Result<(Model, Provisioned), String> {
    let prefix = format!("cold{}-", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let model = Model::load(
        workspace_template_path(),
        &Parameters::local().with("ResourcePrefix", prefix),
    )
    .map_err(|e| format!("template.yaml: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let provisioned = runtime.block_on(async {
        let clients = Clients::new(&local_aws::local_sdk_config().await);
        // No function reads its secret at start; the value only has to exist.
        provision(&model, &clients, &one_value_for_each_secret(&model, "{}")).await
    });
    let provisioned = provisioned.map_err(|e| {
        format!(
            "provisioning on the local AWS (is moto at AWS_ENDPOINT_URL? `make bench` starts one): {}",
            shared::telemetry::error_chain(&e)
        )
    })?;
    Ok((model, provisioned))
}

fn measure(
    function: &FunctionSpec,
    provisioned: &Provisioned,
    bin_dir: &Path,
    runs: usize,
) -> Result<Vec<Duration>, String> {
    let env = lambda_environment(function, provisioned)?;
    let binary = bin_dir.join(&function.binary);
    let once = || probe(&binary, &env, PROBE_TIMEOUT).map_err(|e| e.to_string());
    once()?;
    (0..runs).map(|_| once()).collect()
}

/// The template's variables for `function`, the ones Lambda adds, and the local AWS's endpoint
/// and credentials from this process's environment.
fn lambda_environment(
    function: &FunctionSpec,
    provisioned: &Provisioned,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = provisioned
        .environment(function)
        .map_err(|e| format!("{}: {e}", function.logical_id))?;
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", function.logical_id.as_str()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_SIZE_MB),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/cold-start"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start"),
        ("_HANDLER", "bootstrap"),
    ];
    env.extend(lambda.map(|(k, v)| (k.to_owned(), v.to_owned())));
    for (name, value) in std::env::vars() {
        let passed = name.starts_with("AWS_ENDPOINT_URL")
            || matches!(
                name.as_str(),
                "AWS_REGION" | "AWS_DEFAULT_REGION" | "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY"
            );
        if passed {
            env.insert(name, value);
        }
    }
    Ok(env)
}

fn size_of(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(meta) => format!("{:.2} MiB", mib(meta.len())),
        Err(_) => "not built".to_owned(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
