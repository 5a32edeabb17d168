//! IAM from the ports: each function's role in `template.yaml` allows exactly the AWS calls its
//! code can make, on exactly the resources its configuration names. A new SDK call without a
//! grant fails here, and so does a grant no code path uses.
//!
//! The code side is derived from the sources (`scan`), the template side from SAM's own
//! translator (`grants`), so neither is a hand-kept list.

mod grants;
mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use grants::{Function, Grant};
use scan::{Need, Sources};

/// Managed policies SAM attaches for the platform, not for the code: writing logs, and polling
/// an SQS event source (only where the function has one).
const LOGS_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
const SQS_POLLING_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    root().join(".venv-tools/bin/python")
}

/// What differs between the code and one function's role.
#[derive(Debug, Default, PartialEq)]
struct Mismatch {
    /// Calls the code makes that the role does not allow.
    missing: Vec<String>,
    /// Grants no code path uses.
    unused: Vec<String>,
}

impl Mismatch {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unused.is_empty()
    }
}

/// IAM's wildcard match on action names (`sqs:SendMessage*`), case-insensitive as IAM is.
fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match p.split_once('*') {
        None => p == a,
        Some((head, tail)) => {
            a.len() >= head.len() + tail.len() && a.starts_with(head) && a.ends_with(tail)
        }
    }
}

/// An S3 object action's name (`s3:GetObject` -> `GetObject`); `None` for bucket-level ones.
fn object_action(action: &str) -> Option<&str> {
    action
        .strip_prefix("s3:")
        .filter(|a| !matches!(*a, "ListBucket"))
}

/// Whether a grant's resource covers a need's. Object keys are computed at run time, so an S3
/// object need (`DataBucket/*`) is covered by a grant on any prefix of the bucket
/// (`DataBucket/updates/*`): least privilege per prefix is what the local IAM enforces end to
/// end (tests/tests/local_bucket.rs), not what a source scan can see.
fn covers(grant: &str, need: &str) -> bool {
    match need.strip_suffix("/*") {
        Some(bucket) => grant == need || grant.starts_with(&format!("{bucket}/")),
        None => grant == need,
    }
}

/// The logical id of the KMS key an `AWS::S3::Bucket` encrypts with by default.
fn bucket_key(cfn: &serde_json::Value, bucket: &str) -> Option<String> {
    let resource = &cfn["Resources"][bucket];
    if resource["Type"] != "AWS::S3::Bucket" {
        return None;
    }
    resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        .as_array()?
        .iter()
        .find_map(|rule| {
            let default = &rule["ServerSideEncryptionByDefault"];
            (default["SSEAlgorithm"] == "aws:kms")
                .then(|| grants::resource_name(&default["KMSMasterKeyID"]))
                .flatten()
        })
}

/// Compares what the code needs with what the role grants.
fn compare(function: &Function, needs: &BTreeSet<Need>, cfn: &serde_json::Value) -> Mismatch {
    let env: BTreeMap<&str, &str> = function
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut mismatch = Mismatch::default();
    let mut used: BTreeSet<&Grant> = BTreeSet::new();
    for need in needs {
        let Some(id) = env.get(need.env.as_str()) else {
            mismatch.missing.push(format!(
                "{} ({}) on the resource in {}, which the template does not set",
                need.action, need.site, need.env
            ));
            continue;
        };
        let resource = format!("{id}{}", need.suffix);
        let mut wanted = vec![(need.action.clone(), resource)];
        // S3 object calls on an SSE-KMS bucket: S3 asks KMS for the caller (AWS requires both).
        if let Some(key) = bucket_key(cfn, id) {
            match object_action(&need.action) {
                Some("PutObject") => wanted.push(("kms:GenerateDataKey".into(), key)),
                Some("GetObject") => wanted.push(("kms:Decrypt".into(), key)),
                _ => {}
            }
        }
        for (action, resource) in wanted {
            let covering: Vec<&Grant> = function
                .grants
                .iter()
                .filter(|g| covers(&g.resource, &resource) && action_matches(&g.action, &action))
                .collect();
            if covering.is_empty() {
                mismatch
                    .missing
                    .push(format!("{action} on {resource} (called by {})", need.site));
            }
            used.extend(covering);
        }
    }
    for grant in function.grants.iter().filter(|g| !used.contains(g)) {
        mismatch
            .unused
            .push(format!("{} on {}", grant.action, grant.resource));
    }
    let polls_sqs = cfn["Resources"].as_object().is_some_and(|rs| {
        rs.values().any(|r| {
            r["Type"] == "AWS::Lambda::EventSourceMapping"
                && r["Properties"]["FunctionName"]["Ref"] == function.logical_id.as_str()
                && r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
                    .as_str()
                    .and_then(|q| cfn["Resources"][q]["Type"].as_str())
                    == Some("AWS::SQS::Queue")
        })
    });
    for policy in &function.managed {
        let platform = policy == LOGS_POLICY || (polls_sqs && policy == SQS_POLLING_POLICY);
        if !platform {
            mismatch.unused.push(format!("managed policy {policy}"));
        }
    }
    mismatch
}

/// Adapter methods the scan reaches only because their name is common (it follows method calls
/// by name, not type): the bucket port's `get`/`put`/`delete` are reached from every
/// `HashMap::get`, `headers().get` and store `put` of a function that uses the bucket for one
/// thing only. Each entry says which call the function really makes; the end-to-end tests run
/// the functions with their template roles under the local IAM (tests/tests/claim_check_e2e.rs
/// through the webhook and processor roles), where a real call outside the grant fails with
/// AccessDenied. An entry the scan no longer produces fails the test, so none outlives its cause.
const NAME_COLLISIONS: &[(&str, &str, &str)] = &[
    (
        "webhook",
        "S3Blobs::get",
        "the webhook only stores claim checks (Blobs::put)",
    ),
    (
        "processor",
        "S3Blobs::put",
        "the processor only redeems claim checks (ClaimChecks::redeem -> Blobs::get)",
    ),
    (
        "processor",
        "S3Blobs::delete",
        "the processor only redeems claim checks (ClaimChecks::redeem -> Blobs::get)",
    ),
    (
        "media",
        "S3Blobs::get",
        "the media function only stores copies (Blobs::put); its `.get(` are maps and headers",
    ),
    (
        "media",
        "S3Blobs::delete",
        "the media function never deletes an object",
    ),
];

/// `needs` without the [`NAME_COLLISIONS`] of `binary`; an entry that matches nothing is an error.
fn without_name_collisions(binary: &str, needs: BTreeSet<Need>) -> Result<BTreeSet<Need>, String> {
    let mine: Vec<&str> = NAME_COLLISIONS
        .iter()
        .filter(|(b, _, _)| *b == binary)
        .map(|(_, site, _)| *site)
        .collect();
    if let Some(stale) = mine
        .iter()
        .find(|site| !needs.iter().any(|n| n.site == **site))
    {
        return Err(format!(
            "NAME_COLLISIONS lists {stale} for {binary}, which the scan no longer reaches: remove it"
        ));
    }
    Ok(needs
        .into_iter()
        .filter(|n| !mine.contains(&n.site.as_str()))
        .collect())
}

/// Every function of `template`, with what its code needs and how the role differs.
fn check(template: &Path) -> Result<Vec<(Function, BTreeSet<Need>, Mismatch)>, String> {
    let cfn = grants::expand(&python(), template)?;
    let mut out = Vec::new();
    for function in grants::functions(&cfn)? {
        let src = root().join("functions").join(&function.binary).join("src");
        let needs = Sources::load(&src, &root().join("shared/src"))?.needs()?;
        let needs = without_name_collisions(&function.binary, needs)?;
        let mismatch = compare(&function, &needs, &cfn);
        out.push((function, needs, mismatch));
    }
    if out.is_empty() {
        return Err("the template has no function".into());
    }
    Ok(out)
}

fn report(results: &[(Function, BTreeSet<Need>, Mismatch)]) -> String {
    let mut text = String::new();
    for (f, needs, m) in results {
        text.push_str(&format!("{} ({}):\n", f.logical_id, f.binary));
        for n in needs {
            text.push_str(&format!(
                "  needs {} on ${}{} ({})\n",
                n.action, n.env, n.suffix, n.site
            ));
        }
        for line in &m.missing {
            text.push_str(&format!("  MISSING grant: {line}\n"));
        }
        for line in &m.unused {
            text.push_str(&format!("  UNUSED grant: {line}\n"));
        }
    }
    text
}

#[test]
fn every_function_is_granted_exactly_what_its_code_calls() {
    let results = check(&root().join("template.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let text = report(&results);
    println!("{text}");
    assert_eq!(results.len(), 5, "five functions expected:\n{text}");
    assert!(
        results.iter().all(|(_, _, m)| m.is_empty()),
        "template.yaml and the code disagree:\n{text}"
    );
}

/// The real template with one edit, checked as the main test checks it.
fn check_edited(find: &str, replace: &str) -> Vec<(Function, BTreeSet<Need>, Mismatch)> {
    let original =
        std::fs::read_to_string(root().join("template.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        original.matches(find).count(),
        1,
        "the edit must find exactly one {find:?} in template.yaml"
    );
    let dir = std::env::temp_dir().join(format!("iam-from-code-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("template.yaml");
    std::fs::write(&path, original.replace(find, replace)).unwrap_or_else(|e| panic!("{e}"));
    let results = check(&path).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    results
}

fn mismatch_of<'a>(results: &'a [(Function, BTreeSet<Need>, Mismatch)], id: &str) -> &'a Mismatch {
    &results
        .iter()
        .find(|(f, _, _)| f.logical_id == id)
        .unwrap_or_else(|| panic!("{id} not in the template"))
        .2
}

#[test]
fn a_needed_action_removed_from_the_template_is_reported_missing() {
    let results = check_edited(
        "            - Effect: Allow\n              Action: dynamodb:Query\n              Resource: !Sub \"${StateTable.Arn}/index/due-index\"\n",
        "",
    );
    println!("{}", report(&results));
    assert_eq!(
        mismatch_of(&results, "WindowAlertsFunction"),
        &Mismatch {
            missing: vec![
                "dynamodb:Query on StateTable/index/due-index (called by DynamoStore::query_due)"
                    .into()
            ],
            unused: vec![],
        }
    );
}

#[test]
fn a_grant_no_code_uses_is_reported_unused() {
    let results = check_edited(
        "Action: dynamodb:Query\n              Resource: !Sub \"${StateTable.Arn}/index/due-index\"",
        "Action: [dynamodb:Query, dynamodb:Scan]\n              Resource: !Sub \"${StateTable.Arn}/index/due-index\"",
    );
    println!("{}", report(&results));
    assert_eq!(
        mismatch_of(&results, "WindowAlertsFunction"),
        &Mismatch {
            missing: vec![],
            unused: vec!["dynamodb:Scan on StateTable/index/due-index".into()],
        }
    );
}

#[test]
fn a_wildcard_resource_is_refused() {
    let err = grants::statement_grants(
        "F",
        &serde_json::json!({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}),
    )
    .expect_err("a wildcard cannot be compared");
    assert!(err.contains("unrecognised resource"), "{err}");
}

#[test]
fn a_deny_or_not_action_statement_is_refused() {
    for s in [
        serde_json::json!({"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": {"Ref": "Q"}}),
        serde_json::json!({"Effect": "Allow", "NotAction": "sqs:SendMessage", "Resource": {"Ref": "Q"}}),
    ] {
        assert!(grants::statement_grants("F", &s).is_err(), "{s}");
    }
}

#[test]
fn resources_are_named_by_logical_id_in_every_form_sam_writes() {
    use serde_json::json;
    let cases = [
        (
            json!({"Fn::GetAtt": ["StateTable", "Arn"]}),
            Some("StateTable"),
        ),
        (json!({"Ref": "MetaSecret"}), Some("MetaSecret")),
        (
            json!({"Fn::Sub": "${StateTable.Arn}/index/due-index"}),
            Some("StateTable/index/due-index"),
        ),
        (
            json!({"Fn::Sub": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
                {"queueName": {"Fn::GetAtt": ["CrmEventsQueue", "QueueName"]}}]}),
            Some("CrmEventsQueue"),
        ),
        (
            json!({"Fn::Sub": ["arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}/index/*",
                {"tableName": {"Ref": "StateTable"}}]}),
            Some("StateTable/index/*"),
        ),
        (
            json!({"Fn::Sub": ["${secretArn}", {"secretArn": {"Ref": "MetaSecret"}}]}),
            Some("MetaSecret"),
        ),
        (json!({"Fn::GetAtt": ["CrmEventsQueue", "QueueName"]}), None),
        (json!("arn:aws:sqs:us-east-1:123456789012:q"), None),
        (json!({"Fn::Sub": "arn:aws:s3:::${Bucket}/*"}), None),
    ];
    for (value, expected) in cases {
        assert_eq!(
            grants::resource_name(&value).as_deref(),
            expected,
            "{value}"
        );
    }
}

#[test]
fn sdk_operations_map_to_the_iam_actions_that_authorise_them() {
    let kinds: BTreeSet<String> = ["put", "condition_check"].map(String::from).into();
    assert_eq!(
        scan::actions("dynamodb", "transact_write_items", &kinds),
        Ok(vec![
            "dynamodb:ConditionCheckItem".into(),
            "dynamodb:PutItem".into()
        ])
    );
    assert_eq!(
        scan::actions("sqs", "change_message_visibility_batch", &BTreeSet::new()),
        Ok(vec!["sqs:ChangeMessageVisibility".into()])
    );
    assert_eq!(
        scan::actions("secretsmanager", "get_secret_value", &BTreeSet::new()),
        Ok(vec!["secretsmanager:GetSecretValue".into()])
    );
    assert_eq!(
        scan::actions("s3", "list_objects_v2", &BTreeSet::new()),
        Ok(vec!["s3:ListBucket".into()])
    );
    assert_eq!(
        scan::actions("s3", "delete_objects", &BTreeSet::new()),
        Ok(vec!["s3:DeleteObject".into()])
    );
    assert!(scan::actions("dynamodb", "transact_write_items", &BTreeSet::new()).is_err());
    assert!(scan::actions("kinesis", "put_record", &BTreeSet::new()).is_err());
}

#[test]
fn an_s3_object_need_is_covered_by_a_grant_on_a_prefix_of_its_bucket_only() {
    assert!(covers("DataBucket/updates/*", "DataBucket/*"));
    assert!(covers("DataBucket/*", "DataBucket/*"));
    assert!(!covers("OtherBucket/updates/*", "DataBucket/*"));
    assert!(
        !covers("DataBucket", "DataBucket/*"),
        "the bucket is not its objects"
    );
    assert!(!covers("DataBucket/updates/*", "DataBucket"));
    assert!(!covers("StateTable/index/due-index", "StateTable"));
}

#[test]
fn iam_wildcards_match_action_names_as_iam_does() {
    assert!(action_matches("sqs:SendMessage*", "sqs:SendMessage"));
    assert!(action_matches("SQS:sendmessage", "sqs:SendMessage"));
    assert!(!action_matches("sqs:SendMessage*", "sqs:DeleteMessage"));
    assert!(!action_matches("dynamodb:GetItem", "dynamodb:GetItems"));
}

/// Code for the scanner tests: an adapter, a port, and a function crate that builds it.
const SHARED: &str = r#"
pub const IDX: &str = "by-due";
pub enum Write { Put(u8), Remove(u8), Park(u8) }
pub struct Store { client: aws_sdk_dynamodb::Client, table: String }
impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self { Self { client, table } }
}
impl Port for Store {
    async fn commit(&self, w: Write) {
        let item = match w {
            Write::Remove(_) => TransactWriteItem::builder().delete(d).build(),
            _ => TransactWriteItem::builder().put(p).build(),
        };
        if let Write::Park(_) = w {
            let c = TransactWriteItem::builder().condition_check(c).build();
        }
        self.client.transact_write_items().send().await;
    }
    async fn due(&self) { self.client.query().index_name(IDX).send().await; }
    async fn wipe(&self) { self.client.delete_table().send().await; }
}
pub fn helper(s: &Store) { tracing::info!("{}", s.due()); }
#[cfg(test)]
mod tests { fn t(s: &Store) { s.wipe(); } }
"#;

fn needs_of(function: &str) -> Result<Vec<String>, String> {
    let mut sources = Sources::default();
    sources.add(SHARED, false)?;
    sources.add(function, true)?;
    Ok(sources
        .needs()?
        .into_iter()
        .map(|n| format!("{} ${}{} {}", n.action, n.env, n.suffix, n.site))
        .collect())
}

#[test]
fn the_scan_follows_calls_into_shared_and_reads_the_resource_from_config() {
    let function = r#"
        pub struct Config { table: String }
        fn from_env(env: &Env) -> Config { Config { table: env.required("TABLE")? } }
        fn live(config: &Config) { let s = Store::new(client, &config.table); run(&s); }
        async fn run(s: &Store) { s.commit(Write::Put(1)).await; crate::helper(s); }
    "#;
    assert_eq!(
        needs_of(function),
        Ok(vec![
            "dynamodb:PutItem $TABLE Store::commit".into(),
            "dynamodb:Query $TABLE/index/by-due Store::due".into(),
        ])
    );
}

#[test]
fn transaction_kinds_guarded_by_a_variant_count_only_where_the_variant_is_built() {
    let function = r#"
        fn from_env(env: &Env) -> Config { Config { table: env.required("TABLE")? } }
        fn live(config: &Config) { let s = Store::new(client, &config.table); }
        async fn run(s: &Store) { s.commit(Write::Park(1)).await; }
    "#;
    assert_eq!(
        needs_of(function),
        Ok(vec![
            "dynamodb:ConditionCheckItem $TABLE Store::commit".into(),
            "dynamodb:PutItem $TABLE Store::commit".into(),
        ])
    );
}

#[test]
fn code_only_tests_call_and_adapters_nobody_builds_need_nothing() {
    let unbuilt = r#"async fn run(s: &Store) { s.commit(Write::Remove(1)).await; s.wipe(); }"#;
    assert_eq!(needs_of(unbuilt), Ok(vec![]));
}

#[test]
fn the_resource_is_found_through_clones_and_a_config_read_in_shared() {
    let mut sources = Sources::default();
    let shared_config = r#"
        pub struct StoreConfig { table: String }
        pub fn store_config(env: &Env) -> StoreConfig { StoreConfig { table: env.required("TABLE")? } }
    "#;
    let function = r#"
        fn live(config: &StoreConfig) { let s = Store::new(client, config.table.clone()); run(&s); }
        async fn run(s: &Store) { s.due().await; }
    "#;
    for (text, own) in [(SHARED, false), (shared_config, false), (function, true)] {
        sources.add(text, own).unwrap_or_else(|e| panic!("{e}"));
    }
    let needs: Vec<String> = sources
        .needs()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|n| format!("{} ${}{}", n.action, n.env, n.suffix))
        .collect();
    assert_eq!(needs, vec!["dynamodb:Query $TABLE/index/by-due".to_owned()]);
}

#[test]
fn an_adapter_built_without_a_config_field_is_an_error() {
    let function = r#"fn live() { let s = Store::new(client, "literal-table".to_owned()); }"#;
    let err = needs_of(function).expect_err("the resource cannot be named");
    assert!(err.contains("Store::new"), "{err}");
}
