//! `make run`: the whole system on this machine until Ctrl-C.

use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let opts = local_runner::StackOptions::from_env(&Env::process())?;
    let stack = match local_runner::start(opts).await {
        Ok(stack) => stack,
        Err(err) => {
            let reason = shared::telemetry::error_chain(&err);
            eprintln!("local stack failed to start: {reason}");
            std::process::exit(1);
        }
    };
    let queues = stack.provisioned.queue_urls();
    println!("wa-crm-bridge local stack ready");
    println!("  webhook (API Gateway)  {}", stack.webhook_url());
    println!("  Graph API simulator    {}", stack.sim_url);
    for (id, url) in &queues {
        println!("  queue {id:<22} {url}");
    }
    for (id, name) in stack.provisioned.table_names() {
        println!("  table {id:<22} {name}");
    }
    println!("  AWS credentials        test / test (local administrator; each function signs as its template role)");
    println!("Ctrl-C stops everything.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("stopping…");
    stack.shutdown().await;
    Ok(())
}
