//! `sender::schema` against the `jsonschema` crate (the reference implementation, a
//! dev-dependency only): over valid commands of every type and thousands of mutations of them,
//! both give every command schema the same verdict, and the violation the sender reports is one
//! the reference reports too (same place, keyword and message).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sender::command::Validators;
use sender::schema::Schema;
use serde_json::{json, Value};

fn schema_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/commands");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    files
}

/// Every command schema, and every `$defs` entry on its own (the sender checks
/// `fallback_template` against `send_template`'s `#/$defs/template`).
fn documents() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for file in schema_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if let Some(defs) = doc.get("$defs").and_then(Value::as_object) {
            for (def, schema) in defs {
                if !schema.to_string().contains("$ref") {
                    docs.push((format!("{name}#/$defs/{def}"), schema.clone()));
                }
            }
        }
        docs.push((name, doc));
    }
    docs
}

fn command(extra: Value) -> Value {
    let mut c = json!({"command_id":"crm-7781.a:b_c-d","phone_number_id":"106540352242922","to":"+55 11 98765-4321"});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

/// Valid commands covering every branch of the schemas.
fn valid_commands() -> Vec<Value> {
    let template = json!({"name":"order_update","language":{"code":"pt_BR","policy":"deterministic"},
        "category":"UTILITY","components":[
            {"type":"header","parameters":[{"type":"image","image":{"link":"https://x/y.png"}}]},
            {"type":"body","parameters":[{"type":"text","text":"42"}]},
            {"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"stop"}]},
            {"type":"button","sub_type":"url","index":1,"parameters":[{"type":"text","text":"a"}]}]});
    let rows = json!([{"id":"r1","title":"One","description":"first"},{"id":"r2","title":"Two"}]);
    vec![
        command(json!({"type":"send_text","text":{"body":"Olá","preview_url":true}})),
        command(
            json!({"type":"send_text","text":{"body":"hi"},"context":{"message_id":"wamid.A"},
            "expires_at":"2026-11-30T08:00:00Z","fallback_template":{"name":"hello","language":{"code":"en"}}}),
        ),
        command(json!({"type":"send_template","template":template})),
        command(
            json!({"type":"send_template","template":{"name":"t","language":{"code":"en"},"category":"marketing"}}),
        ),
        command(json!({"type":"send_media","image":{"link":"https://x/y.png","caption":"see"}})),
        command(json!({"type":"send_media","video":{"id":"123"}})),
        command(json!({"type":"send_media","audio":{"link":"http://x/a.ogg"}})),
        command(
            json!({"type":"send_media","document":{"id":"9","filename":"a.pdf","caption":"c"}}),
        ),
        command(json!({"type":"send_media","sticker":{"id":"5"}})),
        command(
            json!({"type":"send_interactive","interactive":{"type":"button",
            "header":{"type":"text","text":"Pick"},"body":{"text":"Which?"},"footer":{"text":"f"},
            "action":{"buttons":[{"type":"reply","reply":{"id":"y","title":"Yes"}},
                                 {"type":"reply","reply":{"id":"n","title":"No"}}]}}}),
        ),
        command(
            json!({"type":"send_interactive","interactive":{"type":"list","body":{"text":"Menu"},
            "action":{"button":"Open","sections":[{"title":"A","rows":rows},{"rows":[{"id":"r3","title":"Three"}]}]}}}),
        ),
        command(
            json!({"type":"send_interactive","interactive":{"type":"cta_url","body":{"text":"Go"},
            "action":{"name":"cta_url","parameters":{"display_text":"Open","url":"https://x"}}}}),
        ),
        command(json!({"type":"send_reaction","reaction":{"message_id":"wamid.B","emoji":"👍"}})),
        command(
            json!({"type":"send_reaction","to":"US.13491208655302741918","reaction":{"message_id":"wamid.B","emoji":""}}),
        ),
        json!({"command_id":"c","type":"mark_read","phone_number_id":"1","message_id":"wamid.A","typing_indicator":true}),
        command(
            json!({"type":"close_conversation","reason":"resolved","tags":["billing","vip"],"actor":"agent-7"}),
        ),
        json!({"command_id":"c","type":"close_conversation","phone_number_id":"1","conversation_id":"cv_1"}),
        command(json!({"type":"request_rating","question":"How did we do?","scale":"1-3"})),
        command(
            json!({"type":"request_rating","conversation_id":"cv_1","question":"Rate us","scale":"1-10",
            "button":"Rate","template":{"name":"csat","language":{"code":"pt_BR"}}}),
        ),
        command(json!({"type":"erase_contact","actor":"dpo-42","reason":"DSR-311"})),
        json!({"command_id":"c","type":"erase_contact","phone_number_id":"1",
            "contact_id":"ct_0123456789abcdef01234567","actor":"dpo-42","reason":"DSR-311"}),
        command(json!({"type":"export_contact","actor":"dpo-42"})),
        json!({"command_id":"c","type":"export_contact","phone_number_id":"1",
            "contact_id":"ct_0123456789abcdef01234567","actor":"dpo-42"}),
        command(json!({"type":"send_text","text":{"body":"hi"},"actor":"agent-7"})),
    ]
}

const TYPES: [&str; 10] = [
    "send_text",
    "send_template",
    "send_media",
    "send_interactive",
    "send_reaction",
    "mark_read",
    "close_conversation",
    "request_rating",
    "erase_contact",
    "export_contact",
];

/// Replacements tried at every place in a command: other types, empty and oversized values,
/// strings each pattern refuses or accepts.
fn replacements() -> Vec<Value> {
    let mut r = vec![
        Value::Null,
        json!(0),
        json!(7),
        json!(1.5),
        json!(true),
        json!(""),
        json!("x"),
        json!("a b"),
        json!("123"),
        json!("https://x/z"),
        json!("ftp://x/z"),
        json!("deterministic"),
        json!("x".repeat(5000)),
        json!("é".repeat(15)),
        json!("é".repeat(25)),
        json!([]),
        json!([{}]),
        json!({}),
        json!({"id":"1","link":"https://x"}),
        json!({"text":"t"}),
    ];
    r.extend(TYPES.iter().map(|t| json!(t)));
    r
}

fn mutations(value: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut pointers = Vec::new();
    collect_pointers(value, String::new(), &mut pointers);
    for pointer in pointers {
        for replacement in replacements() {
            let mut m = value.clone();
            *m.pointer_mut(&pointer).unwrap() = replacement;
            out.push(m);
        }
        let mut removed = value.clone();
        if let Some((parent, key)) = pointer.rsplit_once('/') {
            match removed.pointer_mut(parent) {
                Some(Value::Object(o)) => {
                    o.remove(key);
                }
                Some(Value::Array(a)) => {
                    a.remove(key.parse::<usize>().unwrap());
                }
                _ => {}
            }
            out.push(removed);
        }
        let target = value.pointer(&pointer).unwrap();
        if let Value::Object(_) = target {
            let mut m = value.clone();
            m.pointer_mut(&pointer).unwrap()["unexpected"] = json!(1);
            out.push(m);
        }
        if let Value::Array(items) = target {
            for n in [3, 9, 20] {
                let mut m = value.clone();
                if let (Some(Value::Array(a)), Some(last)) = (m.pointer_mut(&pointer), items.last())
                {
                    a.extend(std::iter::repeat_n(last.clone(), n));
                }
                out.push(m);
            }
        }
    }
    out
}

fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                collect_pointers(v, p, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                collect_pointers(v, p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_command_schema_loads() {
    for (name, doc) in documents() {
        Schema::compile(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    Validators::load().unwrap();
}

#[test]
fn the_sender_and_the_reference_implementation_agree_on_every_command_and_mutation() {
    let mut commands = Vec::new();
    for valid in valid_commands() {
        commands.extend(mutations(&valid));
        commands.push(valid);
    }
    // A `$defs` entry checks what the commands hold at their top-level fields.
    let fields: Vec<Value> = commands
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|c| c.values().cloned())
        .collect();
    for (name, doc) in documents() {
        let ours = Schema::compile(&doc).unwrap();
        let reference = jsonschema::validator_for(&doc).unwrap();
        let (mut valid, mut invalid) = (0, 0);
        let instances = if name.contains("#/$defs/") {
            &fields
        } else {
            &commands
        };
        for c in instances {
            let errors: BTreeSet<(String, String, String)> = reference
                .iter_errors(c)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    (at, e.kind().keyword().to_owned(), e.masked().to_string())
                })
                .collect();
            match ours.first_violation(c) {
                None => {
                    assert!(
                        errors.is_empty(),
                        "{name}: only the reference refuses {c}: {errors:?}"
                    );
                    valid += 1;
                }
                Some(v) => {
                    let ours = (v.path, v.keyword.to_owned(), v.message);
                    assert!(
                        errors.contains(&ours),
                        "{name}: {ours:?} is not among the reference's {errors:?} for {c}"
                    );
                    invalid += 1;
                }
            }
        }
        // Both verdicts occur for every schema, so the agreement means something.
        assert!(
            valid > 10 && invalid > 100,
            "{name}: {valid} valid, {invalid} invalid"
        );
    }
}
