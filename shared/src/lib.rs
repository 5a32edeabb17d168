//! The wa-crm-bridge library: domain rules (pure), ports (narrow async traits) and adapters
//! (DynamoDB, SQS, Secrets Manager, Graph API) shared by every function.

pub mod signature;
