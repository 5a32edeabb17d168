//! `wa-bridge`: the operator's command line for the local stack and a deployed one (see
//! `wa-bridge --help` and the README's round trip).

mod cli;
mod contact;
mod dlq;
mod error;
mod events;
mod send;
mod target;
mod webhook;

use clap::Parser;

use crate::cli::{Cli, Command, ContactCommand, DlqCommand, EventsCommand, WebhookCommand};
use crate::error::CliError;
use crate::target::Target;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli).await {
        eprintln!("wa-bridge: {}", shared::telemetry::error_chain(&err));
        std::process::exit(err.exit_code());
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let target = Target::resolve(&cli.target).await?;
    match cli.command {
        Command::Send(send) => send::run(&target, send).await,
        Command::Events(EventsCommand::Tail(args)) => events::tail(&target, args).await,
        Command::Contact(ContactCommand::Show(args)) => contact::show(&target, args).await,
        Command::Dlq(DlqCommand::List) => dlq::list(&target).await,
        Command::Dlq(DlqCommand::Redrive { queue }) => dlq::redrive(&target, &queue).await,
        Command::Webhook(WebhookCommand::Replay { files }) => {
            webhook::replay(&target, &files).await
        }
    }
}
