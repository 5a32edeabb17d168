//! The command line: every command says what it does in one line and shows an example.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Targets: the local stack of `make run` by default (its endpoints and names, signing as the local \
administrator test/test); a deployed stack with --stack NAME (queues, table, secret and webhook \
URL from its CloudFormation outputs, credentials from the usual AWS chain).

Exit codes: 0 done; 1 a command ended other than command.accepted, a replay was refused or a \
move failed; 2 bad arguments; 3 a stack, output, queue or contact does not exist; 4 a wait timed \
out; 5 AWS or the network failed.

Examples:
  wa-bridge send text --to '+55 11 98765-4321' --body 'Temos sim!'
  wa-bridge --stack wa-crm-bridge --region sa-east-1 dlq list";

#[derive(Debug, Parser)]
#[command(
    name = "wa-bridge",
    version,
    about = "Operate a wa-crm-bridge stack: send, watch events, inspect contacts, redrive dead letters, replay webhooks.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Which stack: the local one unless `--stack` names a deployed one.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// A deployed stack's CloudFormation name: its outputs name the queues, table, secret and webhook URL.
    #[arg(long, global = true, env = "WA_BRIDGE_STACK")]
    pub stack: Option<String>,
    /// AWS region of --stack (else the usual AWS chain: AWS_REGION, the profile); local: AWS_REGION or us-east-1.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile for --stack (else the usual AWS chain); not used locally.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Local: the local AWS for SQS and Secrets Manager.
    #[arg(
        long,
        global = true,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint_url: String,
    /// Local: the local AWS for DynamoDB [default: --endpoint-url's port + 1].
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint_url: Option<String>,
    /// Local: the prefix of every resource name, as `make run` was given it.
    #[arg(long, global = true, env = "LOCAL_RESOURCE_PREFIX", default_value = "")]
    pub prefix: String,
    /// Local: the webhook (API Gateway stand-in).
    #[arg(
        long,
        global = true,
        env = "WA_BRIDGE_WEBHOOK_URL",
        default_value = "http://127.0.0.1:3000/webhook"
    )]
    pub webhook_url: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Put a command on crm-commands.fifo and wait for its outcome.
    #[command(
        subcommand,
        after_help = "Example:\n  wa-bridge send text --to '+55 11 98765-4321' --body 'Temos sim!'"
    )]
    Send(SendCommand),
    /// Follow crm-events.fifo.
    #[command(
        subcommand,
        after_help = "Example:\n  wa-bridge events tail --type message.received --max 1"
    )]
    Events(EventsCommand),
    /// Look at what the bridge knows about a contact.
    #[command(
        subcommand,
        after_help = "Example:\n  wa-bridge contact show '+55 11 98765-4321'"
    )]
    Contact(ContactCommand),
    /// Dead-letter queues: their depth, and moving their messages back.
    #[command(subcommand, after_help = "Example:\n  wa-bridge dlq list")]
    Dlq(DlqCommand),
    /// Post Meta webhook payloads to the bridge, signed as Meta signs them.
    #[command(
        subcommand,
        after_help = "Example:\n  wa-bridge webhook replay events/webhook-post-text.json"
    )]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Send a free-form text (only inside the contact's 24-hour window).
    #[command(
        after_help = "Example:\n  wa-bridge send text --to '+55 11 98765-4321' --body 'Temos sim! Quer o link?'"
    )]
    Text {
        #[command(flatten)]
        common: SendArgs,
        /// The text (at most 4096 characters).
        #[arg(long)]
        body: String,
        /// Let WhatsApp show a preview of the first link.
        #[arg(long)]
        preview_url: bool,
    },
    /// Send an approved template (allowed whatever the window).
    #[command(
        after_help = "Example:\n  wa-bridge send template --to 5511987654321 --name pedido_enviado --lang pt_BR --param 'Ana' --param '#4711'"
    )]
    Template {
        #[command(flatten)]
        common: SendArgs,
        /// The template's name.
        #[arg(long)]
        name: String,
        /// The template's language code (pt_BR, en_US, …).
        #[arg(long)]
        lang: String,
        /// A body parameter, in order ({{1}}, {{2}}, …); repeat for each.
        #[arg(long = "param")]
        params: Vec<String>,
    },
}

/// What every send takes.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The recipient: a phone number with its country code (any usual format) or a business-scoped user id.
    #[arg(long)]
    pub to: String,
    /// The business phone number id to send from [default: the stack's first PhoneNumberIds].
    #[arg(long)]
    pub from: Option<String>,
    /// The command id [default: a fresh one]; the same id is never sent twice.
    #[arg(long)]
    pub command_id: Option<String>,
    /// Only enqueue; print the command id and do not wait for the outcome.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the outcome, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Print the outcome event as JSON (with the contact's full phone number).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print CRM events as they arrive, one line each. A consumer: it deletes every event it receives (printed or filtered out) unless --peek.
    #[command(
        after_help = "Example:\n  wa-bridge events tail --type message.received --max 1\n\n\
--peek looks once at up to 10 events with a visibility timeout of 0 and deletes nothing; each look \
counts as a receive, and an event received MaxReceiveCount times (5) moves to crm-events-dlq.fifo."
    )]
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only events of this type (message.received, command.accepted, …).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Only events of this contact: its id, phone number or user id.
    #[arg(long)]
    pub contact: Option<String>,
    /// Print each event's JSON as received (full phone numbers, names and texts).
    #[arg(long)]
    pub json: bool,
    /// Stop after printing this many events.
    #[arg(long)]
    pub max: Option<usize>,
    /// Stop after this many seconds [default: follow until Ctrl-C].
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Look without consuming: one receive with a visibility timeout of 0.
    #[arg(long)]
    pub peek: bool,
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Show a contact: profile, aliases, 24-hour window, consent and ledger, last messages with their statuses.
    #[command(
        after_help = "Example:\n  wa-bridge contact show '+55 11 98765-4321'\n\n\
The readable form masks phone numbers and leaves names out; --json prints the records whole. The \
messages are found by scanning the state table (there is no per-contact index): on a large \
deployed table use --messages 0 to skip the scan."
    )]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A phone number with its country code, a business-scoped user id, or a contact id (ct_…).
    pub who: String,
    /// The business phone number id [default: the stack's first PhoneNumberIds].
    #[arg(long)]
    pub from: Option<String>,
    /// How many of the latest messages to show.
    #[arg(long, default_value_t = 10)]
    pub messages: usize,
    /// Print the records as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List every dead-letter queue with its depth and the age of its oldest message.
    #[command(after_help = "Example:\n  wa-bridge dlq list\n\n\
The oldest message is sampled (a receive with a visibility timeout of 0, nothing deleted).")]
    List,
    /// Move a dead-letter queue's messages back to its source queue, with a progress bar.
    #[command(after_help = "Example:\n  wa-bridge dlq redrive inbound-dlq\n\n\
Uses SQS StartMessageMoveTask, as the console's redrive does. Where the service does not offer it \
(the local moto), the messages are moved one batch at a time: received, sent to the source queue \
with their body, attributes and group, then deleted; a FIFO message gets the deduplication id \
redrive-<its message id>, so a move repeated within 5 minutes sends nothing twice.")]
    Redrive {
        /// The dead-letter queue: its name with or without the stack's prefix, or its URL.
        queue: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Sign each file with the app secret as Meta does, POST it to the webhook and print the HTTP status.
    #[command(
        after_help = "Example:\n  wa-bridge webhook replay events/webhook-post-text.json\n\n\
A file is Meta's payload, or an API Gateway event (events/) whose body is sent. The app secret \
is read from the stack's Secrets Manager secret (WA_BRIDGE_APP_SECRET overrides it)."
    )]
    Replay {
        /// Payload files, posted in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_says_what_it_does_and_shows_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                let example = sub
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if about.is_empty()
                    || about.contains('\n')
                    || !example.contains("Example:\n  wa-bridge")
                {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "wa-bridge", &mut missing);
        assert!(
            missing.is_empty(),
            "without a one-line about and an example: {missing:?}"
        );
    }
}
