//! Plays AWS's part around the compiled functions on one machine: each function's binary runs
//! as a child process speaking the Lambda Runtime API to the runner, behind API Gateway (HTTP on
//! 127.0.0.1:3000), the SQS event source mappings and the EventBridge schedule, next to the
//! Graph API simulator, over moto provisioned from `template.yaml`.

pub mod apigw;
pub mod binaries;
pub mod clock;
pub mod environment;
pub mod esm;
pub mod function;
pub mod handlers;
pub mod inputs;
pub mod runtime_api;
pub mod schedule;
pub mod stack;
pub mod usage;

pub use stack::{start, RunningStack, StackError, StackOptions};
