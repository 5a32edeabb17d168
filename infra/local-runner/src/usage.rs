//! `GET /_local/lambda-usage` beside the webhook: what each function has used so far, as Lambda
//! would bill it ([`Usage`] per binary name). Not part of API Gateway's surface; `make cost`
//! reads it before and after a workload, as moto's recorder counts the AWS calls.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::function::{Function, Usage};

pub const PATH: &str = "/_local/lambda-usage";

type Functions = Arc<BTreeMap<String, Arc<Function>>>;

pub fn router(functions: BTreeMap<String, Arc<Function>>) -> Router {
    Router::new()
        .route(PATH, get(usage))
        .with_state(Arc::new(functions))
}

async fn usage(State(functions): State<Functions>) -> Json<BTreeMap<String, Usage>> {
    Json(
        functions
            .iter()
            .map(|(name, function)| (name.clone(), function.usage()))
            .collect(),
    )
}
