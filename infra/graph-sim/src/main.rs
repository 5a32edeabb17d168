//! `graph-sim`: serves the Graph API simulator (configured by `GRAPH_SIM_*`, see `config`).

use graph_sim::config::{listen_addr_from_env, ENV_VARS};
use graph_sim::{SimConfig, Simulator};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("graph-sim: a local Graph API simulator. Environment:");
        for (name, default) in ENV_VARS {
            println!("  {name:32} {default}");
        }
        return ExitCode::SUCCESS;
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("graph-sim: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = SimConfig::from_env()?;
    let addr = listen_addr_from_env()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, webhook_url = %cfg.webhook_url, "graph-sim listening");
    Simulator::new(cfg)
        .serve_with_shutdown(listener, shutdown_signal())
        .await?;
    tracing::info!("graph-sim stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM (what the local runner and `kill` send). A handler that cannot be
/// installed never fires, so the server then runs until killed.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
