//! DynamoDB adapter of the state-table ports.
//!
//! Records become items through their serde form: each field is a top-level attribute (so `ttl`,
//! `due_bucket` and `due_at` are what the table's TTL and GSI read), plus `pk`, `sk` and, for
//! mutable records, the version `ver`; an outbox's events are one deflated attribute (`outbox`).
//! A [`Commit`] is one `TransactWriteItems`; its cancellation reasons tell a duplicate (the outbox
//! put, always first, failed) from a conflict.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use super::{
    ahead_put, keys, split_ahead, write_body, write_key, AliasRecord, Commit, CommitOutcome,
    ContactRecord, ContactState, ConversationRecord, Expect, MessageState, OutboxRecord,
    OutboxStore, ProcessorStore, StoreError, Versioned, Write,
};

pub mod due;
mod items;
mod outbox;
mod parked;
mod personal;
mod scheduled;
mod unpublished;

type Item = HashMap<String, AttributeValue>;

const VERSION: &str = "ver";
/// BatchGetItem may leave keys unprocessed under throttling; ask again this many times.
const BATCH_GET_ATTEMPTS: usize = 5;

/// Adapter: the state table.
#[derive(Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>, StoreError> {
        let mut pending: Vec<Item> = keys.into_iter().map(|(pk, sk)| key(&pk, &sk)).collect();
        let mut found = Vec::new();
        for attempt in 0..BATCH_GET_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Build("BatchGetItem", e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| aws("BatchGetItem", e))?;
            if let Some(items) = out.responses().and_then(|r| r.get(&self.table)) {
                found.extend(items.iter().cloned());
            }
            if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                pending = left.keys().to_vec();
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::Unstorable {
                key: crate::redact::item_key("", ""),
                reason: format!("{} keys stayed unprocessed by BatchGetItem", pending.len()),
            });
        }
        Ok(found)
    }

    /// A write's key, its item (`None` for a delete) and its condition: what a transaction's
    /// entry and an ahead `PutItem` are made of.
    fn parts(&self, write: &Write) -> Result<(Item, Option<Item>, Condition), StoreError> {
        let (pk, sk) = write_key(write);
        let body = write_body(write).map_err(|source| StoreError::Corrupt {
            key: crate::redact::item_key(&pk, &sk),
            source: source.into(),
        })?;
        let mut condition = Condition::default();
        match write {
            Write::Contact(_, e)
            | Write::Conversation(_, e)
            | Write::Message(_, e)
            | Write::ExternalMessage(_, e) => {
                condition.expect(*e);
            }
            Write::Alias { record, replace } => {
                if !*replace {
                    condition.points_at(&record.contact_id);
                }
            }
            Write::RemoveAlias(record) => condition.points_at(&record.contact_id),
            Write::Unpark { .. } | Write::Delete { .. } => {
                condition.expr = Some("attribute_exists(pk)".into());
            }
            Write::Consent(_)
            | Write::Park(_)
            | Write::TemplateCategory(_)
            | Write::Schedule(_)
            | Write::Audit(_) => {}
            Write::Ahead(_) => {
                return Err(StoreError::Unstorable {
                    key: crate::redact::item_key(&pk, &sk),
                    reason: "an ahead write cannot be part of a transaction".into(),
                })
            }
        }
        let item = match body {
            Some(value) => {
                let mut item = to_item(&pk, &sk, &value)?;
                if let Write::Contact(_, e)
                | Write::Conversation(_, e)
                | Write::Message(_, e)
                | Write::ExternalMessage(_, e) = write
                {
                    let next = match e {
                        Expect::Absent => 1,
                        Expect::Version(v) => v + 1,
                    };
                    item.insert(VERSION.into(), AttributeValue::N(next.to_string()));
                }
                Some(item)
            }
            None => None,
        };
        Ok((key(&pk, &sk), item, condition))
    }

    fn transact_item(&self, write: &Write) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (item_key, item, condition) = self.parts(write)?;
        let mut out = Vec::new();
        match item {
            Some(item) => {
                let put = condition
                    .apply_put(Put::builder().table_name(&self.table).set_item(Some(item)))
                    .build()
                    .map_err(|e| StoreError::Build("TransactWriteItems", e))?;
                out.push(TransactWriteItem::builder().put(put).build());
            }
            None => {
                let delete = condition
                    .apply_delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(item_key)),
                    )
                    .build()
                    .map_err(|e| StoreError::Build("TransactWriteItems", e))?;
                out.push(TransactWriteItem::builder().delete(delete).build());
            }
        }
        if let Write::Park(p) = write {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(&keys::message_pk(&p.wamid), keys::MESSAGE)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Build("TransactWriteItems", e))?;
            out.push(TransactWriteItem::builder().condition_check(check).build());
        }
        Ok(out)
    }

    /// Writes the put a [`Write::Ahead`] wraps as one conditional `PutItem`; `false` when its
    /// condition failed.
    async fn put_ahead(&self, inner: &Write) -> Result<bool, StoreError> {
        let put = ahead_put(inner)?;
        let (item_key, item, condition) = self.parts(put)?;
        let Some(item) = item else {
            return Err(StoreError::Unstorable {
                key: crate::redact::item_key(attr_str(&item_key, "pk"), attr_str(&item_key, "sk")),
                reason: "an ahead write must put an item".into(),
            });
        };
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if let Some(expr) = condition.expr {
            request = request
                .condition_expression(expr)
                .set_expression_attribute_names(
                    (!condition.names.is_empty()).then_some(condition.names),
                )
                .set_expression_attribute_values(
                    (!condition.values.is_empty()).then_some(condition.values),
                );
        }
        applied("PutItem", request.send().await)
    }
}

/// A condition expression with its placeholders.
#[derive(Default)]
struct Condition {
    expr: Option<String>,
    values: HashMap<String, AttributeValue>,
    names: HashMap<String, String>,
}

impl Condition {
    fn expect(&mut self, e: Expect) {
        match e {
            Expect::Absent => self.expr = Some("attribute_not_exists(pk)".into()),
            Expect::Version(v) => {
                self.expr = Some("#ver = :ver".into());
                self.names.insert("#ver".into(), VERSION.into());
                self.values
                    .insert(":ver".into(), AttributeValue::N(v.to_string()));
            }
        }
    }

    fn points_at(&mut self, contact_id: &str) {
        self.expr = Some("attribute_not_exists(pk) OR contact_id = :contact".into());
        self.values
            .insert(":contact".into(), AttributeValue::S(contact_id.to_owned()));
    }

    fn apply_put(
        self,
        b: aws_sdk_dynamodb::types::builders::PutBuilder,
    ) -> aws_sdk_dynamodb::types::builders::PutBuilder {
        let Some(expr) = self.expr else { return b };
        b.condition_expression(expr)
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
    }

    fn apply_delete(
        self,
        b: aws_sdk_dynamodb::types::builders::DeleteBuilder,
    ) -> aws_sdk_dynamodb::types::builders::DeleteBuilder {
        let Some(expr) = self.expr else { return b };
        b.condition_expression(expr)
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
    }
}

fn aws<E, R>(operation: &'static str, e: SdkError<E, R>) -> StoreError
where
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    StoreError::Aws {
        operation,
        source: Box::new(e.into()),
    }
}

/// A conditional write's answer: `true` applied, `false` refused by its condition (which each
/// caller reads as "someone else got there first", or "nothing left to do"); any other error is
/// the store's.
fn applied<O, E, R>(
    operation: &'static str,
    result: Result<O, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(aws(operation, e)),
    }
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn to_item(pk: &str, sk: &str, value: &Value) -> Result<Item, StoreError> {
    let Value::Object(fields) = value else {
        return Err(StoreError::Unstorable {
            key: crate::redact::item_key(pk, sk),
            reason: "record is not a JSON object".into(),
        });
    };
    let mut item = key(pk, sk);
    for (name, v) in fields {
        item.insert(name.clone(), to_attr(v));
    }
    Ok(item)
}

/// JSON → DynamoDB attribute (numbers as `N`, objects as `M`, arrays as `L`).
pub fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

/// DynamoDB attribute → JSON (sets become arrays, binary becomes null: the bridge stores none).
pub fn from_attr(a: &AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), from_attr(v)))
                .collect::<Map<_, _>>(),
        ),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(n) => Value::Array(n.iter().map(|x| number(x)).collect()),
        _ => Value::Null,
    }
}

fn number(n: &str) -> Value {
    if let Ok(i) = n.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = n.parse::<u64>() {
        return Value::Number(u.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn attr_str<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s,
        _ => "",
    }
}

fn from_item<T: DeserializeOwned>(item: &Item) -> Result<Versioned<T>, StoreError> {
    let value = Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attr(v)))
            .collect(),
    );
    let version = match item.get(VERSION) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    };
    let record = serde_json::from_value(value).map_err(|source| StoreError::Corrupt {
        key: crate::redact::item_key(attr_str(item, "pk"), attr_str(item, "sk")),
        source: source.into(),
    })?;
    Ok(Versioned { record, version })
}

impl OutboxStore for DynamoStore {
    async fn load_outbox(&self, update_key: &str) -> Result<Option<OutboxRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&keys::outbox_pk(update_key), keys::OUTBOX)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws("GetItem", e))?;
        out.item().map(outbox::from_outbox_item).transpose()
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        let (ahead, writes) = split_ahead(&commit.writes);
        // Ahead puts first, together: each is idempotent, so their order does not matter.
        let landed =
            futures::future::try_join_all(ahead.into_iter().map(|w| self.put_ahead(w))).await?;
        if landed.contains(&false) {
            return Ok(CommitOutcome::Conflict);
        }
        let mut items = Vec::with_capacity(writes.len() + 1);
        let has_outbox = commit.outbox.is_some();
        if let Some(outbox) = &commit.outbox {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(outbox::to_outbox_item(outbox)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Build("TransactWriteItems", e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for write in writes {
            items.extend(self.transact_item(write)?);
        }
        if items.is_empty() {
            return Ok(CommitOutcome::Applied);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(CommitOutcome::Applied),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None"))
                        .collect();
                    if has_outbox && codes.first() == Some(&"ConditionalCheckFailed") {
                        Ok(CommitOutcome::Duplicate)
                    } else if codes.is_empty()
                        || codes
                            .iter()
                            .any(|c| matches!(*c, "ConditionalCheckFailed" | "TransactionConflict"))
                    {
                        Ok(CommitOutcome::Conflict)
                    } else {
                        Err(aws("TransactWriteItems", err))
                    }
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Ok(CommitOutcome::Conflict)
                }
                _ => Err(aws("TransactWriteItems", err)),
            },
        }
    }

    async fn mark_published(&self, update_key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&keys::outbox_pk(update_key), keys::OUTBOX)))
            .update_expression("SET published = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        // Refused: expired by TTL in the meantime, nothing left to mark.
        applied("UpdateItem", result).map(drop)
    }
}

impl ProcessorStore for DynamoStore {
    async fn find_aliases(
        &self,
        business: &str,
        aliases: &[String],
    ) -> Result<Vec<AliasRecord>, StoreError> {
        if aliases.is_empty() {
            return Ok(Vec::new());
        }
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&String> = aliases.iter().filter(|a| seen.insert(*a)).collect();
        let items = self
            .batch_get(
                unique
                    .iter()
                    .map(|a| (keys::alias_pk(business, a), keys::ALIAS.to_owned()))
                    .collect(),
            )
            .await?;
        let mut found: Vec<AliasRecord> = items
            .iter()
            .map(|i| from_item::<AliasRecord>(i).map(|v| v.record))
            .collect::<Result<_, _>>()?;
        // BatchGetItem answers in no particular order; keep the caller's.
        found.sort_by_key(|a| aliases.iter().position(|x| *x == a.alias));
        Ok(found)
    }

    async fn load_contact(
        &self,
        business: &str,
        contact_id: &str,
    ) -> Result<ContactState, StoreError> {
        let pk = keys::contact_pk(business, contact_id);
        let items = self
            .batch_get(vec![
                (pk.clone(), keys::PROFILE.to_owned()),
                (pk, keys::CONVERSATION.to_owned()),
            ])
            .await?;
        let mut state = ContactState::default();
        for item in &items {
            match attr_str(item, "sk") {
                keys::PROFILE => state.contact = Some(from_item::<ContactRecord>(item)?),
                keys::CONVERSATION => {
                    state.conversation = Some(from_item::<ConversationRecord>(item)?);
                }
                _ => {}
            }
        }
        Ok(state)
    }

    async fn load_message(&self, wamid: &str) -> Result<MessageState, StoreError> {
        let mut state = MessageState::default();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::message_pk(wamid)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws("Query", e))?;
            for item in out.items() {
                let sk = attr_str(item, "sk");
                if sk == keys::MESSAGE {
                    state.message = Some(from_item(item)?);
                    state.unpublished = unpublished::unpublished_of(item)?;
                } else if sk == keys::EXTERNAL {
                    state.external = Some(from_item(item)?);
                } else if sk.starts_with("PARKED#") {
                    state.parked.push(from_item(item)?.record);
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_attributes_round_trip() {
        let v: Value =
            serde_json::json!({"s":"x","n":-12,"f":1.5,"b":true,"z":null,"l":[1,"a"],"m":{"k":[]}});
        assert_eq!(from_attr(&to_attr(&v)), v);
    }
}
