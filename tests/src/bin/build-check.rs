//! `make build-check`: after the deploy's build step (`sam build`), every function of
//! `template.yaml` has a deployable artifact under `.aws-sam/build/<LogicalId>/bootstrap`: an
//! aarch64 ELF of at most 8 MB, byte for byte the `target/lambda/<Binary>/bootstrap` that
//! `make build` produced (so CI checks what deploys). One line per function; exits 1 if any fails.
//!
//! Usage: `build-check [SAM_BUILD_DIR] [LAMBDA_DIR]` (defaults `.aws-sam/build`, `target/lambda`).

use std::path::PathBuf;
use std::process::ExitCode;

use e2e_tests::artifact::{check_bootstrap, check_same_file, MAX_BOOTSTRAP_BYTES};
use local_aws::{workspace_template_path, Model, Parameters};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let sam_dir = PathBuf::from(args.next().unwrap_or_else(|| ".aws-sam/build".into()));
    let lambda_dir = PathBuf::from(args.next().unwrap_or_else(|| "target/lambda".into()));
    let model = match Model::load(workspace_template_path(), &Parameters::defaults()) {
        Ok(model) => model,
        Err(err) => {
            eprintln!("build-check: template.yaml: {err}");
            return ExitCode::FAILURE;
        }
    };
    if model.functions.is_empty() {
        eprintln!("build-check: template.yaml declares no function");
        return ExitCode::FAILURE;
    }
    let mut failed = 0;
    for function in &model.functions {
        let artifact = sam_dir.join(&function.logical_id).join("bootstrap");
        let built = lambda_dir.join(&function.binary).join("bootstrap");
        let result = check_bootstrap(&artifact, MAX_BOOTSTRAP_BYTES)
            .and_then(|checked| check_same_file(&artifact, &built).map(|()| checked));
        match result {
            Ok(checked) => println!(
                "ok   {:<22} {:<14} {checked}, = {}",
                function.logical_id,
                function.binary,
                built.display()
            ),
            Err(err) => {
                failed += 1;
                println!(
                    "FAIL {:<22} {:<14} {err}",
                    function.logical_id, function.binary
                );
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "build-check: {failed} of {} functions not deployable (limit {MAX_BOOTSTRAP_BYTES} bytes, aarch64)",
            model.functions.len()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
