//! Plays AWS's part around the real handlers on one machine: API Gateway (HTTP on
//! 127.0.0.1:3000), the SQS event source mappings and the EventBridge schedule, next to the
//! Graph API simulator, over moto provisioned from `template.yaml`.

pub mod apigw;
pub mod esm;
pub mod handlers;
pub mod inputs;
pub mod schedule;
pub mod stack;

pub use stack::{start, RunningStack, StackError, StackOptions};
