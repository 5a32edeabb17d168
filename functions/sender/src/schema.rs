//! The JSON Schema (2020-12) keywords `schemas/commands/` is written in, interpreted here so the
//! sender's bootstrap carries no general JSON Schema engine (its regex engines, IDNA and formats
//! cost ~1.1 MB of the 8 MB a bootstrap may weigh).
//!
//! Loading refuses every keyword this module does not implement, so a schema that needs one
//! fails at cold start and in the tests instead of being checked in part. Violations read as the
//! `jsonschema` crate's masked messages did (no value quoted), in its order (keywords by name),
//! and `tests/schema_agrees.rs` holds the two to the same verdicts.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use regex::Regex;
use serde_json::{Map, Number, Value};

/// The only dialect the command schemas are written in.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Keywords that annotate and never reject.
const ANNOTATIONS: [&str; 6] = [
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
];

/// A compiled schema: its root and the `$defs` its `$ref`s point to.
#[derive(Debug)]
pub struct Schema {
    root: Node,
    defs: Vec<Node>,
}

/// Why a schema does not compile, with the JSON pointer of the offending keyword.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct CompileError {
    at: String,
    problem: String,
}

/// The first thing an instance breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// JSON pointer to the offending value ("" for the instance itself).
    pub path: String,
    /// The keyword that failed, named as in the schema.
    pub keyword: &'static str,
    /// What is wrong, never quoting the value (it may be a phone number or a text).
    pub message: String,
}

#[derive(Debug)]
enum Node {
    /// `true`, or a schema of annotations only.
    Any,
    /// `false`.
    Never,
    Keywords(Box<Keywords>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Type {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

/// One schema object's keywords; `None`/empty where the keyword is absent.
#[derive(Debug, Default)]
struct Keywords {
    reference: Option<usize>,
    additional_properties: Option<Node>,
    all_of: Vec<Node>,
    any_of: Vec<Node>,
    constant: Option<Value>,
    enumeration: Option<Vec<Value>>,
    condition: Option<Condition>,
    items: Option<Node>,
    max_items: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    min_length: Option<u64>,
    not: Option<(Node, Value)>,
    one_of: Vec<Node>,
    pattern: Option<(Regex, String)>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    types: Vec<Type>,
}

#[derive(Debug)]
struct Condition {
    test: Node,
    then: Option<Node>,
    otherwise: Option<Node>,
}

impl Schema {
    /// Compiles a schema document; `$ref` may point to its root `$defs` only.
    pub fn compile(document: &Value) -> Result<Self, CompileError> {
        let names: Vec<String> = match document.get("$defs") {
            Some(Value::Object(defs)) => defs.keys().cloned().collect(),
            Some(_) => return Err(CompileError::new("/$defs", "must be an object")),
            None => Vec::new(),
        };
        let compiler = Compiler {
            defs: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect(),
        };
        let mut defs = Vec::with_capacity(names.len());
        for name in &names {
            let at = format!("/$defs/{}", escape(name));
            let def = document.pointer(&at).unwrap_or(&Value::Bool(true));
            defs.push(compiler.node(def, &at)?);
        }
        let root = compiler.node(document, "")?;
        let schema = Self { root, defs };
        schema.refuse_reference_cycles()?;
        Ok(schema)
    }

    /// The first violation, in the order the keywords' names sort; `None` when valid.
    pub fn first_violation(&self, instance: &Value) -> Option<Violation> {
        self.check(&self.root, instance, None).err()
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.first_violation(instance).is_none()
    }

    fn check(&self, node: &Node, value: &Value, at: Option<&Loc>) -> Result<(), Violation> {
        let k = match node {
            Node::Any => return Ok(()),
            Node::Never => {
                return Err(violation(
                    at,
                    "falseSchema",
                    "False schema does not allow value".into(),
                ))
            }
            Node::Keywords(k) => k,
        };
        if let Some(def) = k.reference {
            if let Some(target) = self.defs.get(def) {
                self.check(target, value, at)?;
            }
        }
        if let (Some(extra), Some(object)) = (&k.additional_properties, value.as_object()) {
            let unexpected = object
                .iter()
                .filter(|(name, _)| !k.properties.iter().any(|(p, _)| p == *name));
            if let Node::Never = extra {
                let names: Vec<&String> = unexpected.map(|(name, _)| name).collect();
                if !names.is_empty() {
                    return Err(violation(
                        at,
                        "additionalProperties",
                        additional_properties_message(&names),
                    ));
                }
            } else {
                for (name, v) in unexpected {
                    self.check(extra, v, Some(&Loc::key(at, name)))?;
                }
            }
        }
        for sub in &k.all_of {
            self.check(sub, value, at)?;
        }
        if !k.any_of.is_empty() && !k.any_of.iter().any(|s| self.valid(s, value)) {
            return Err(violation(
                at,
                "anyOf",
                "value is not valid under any of the schemas listed in the 'anyOf' keyword".into(),
            ));
        }
        if let Some(expected) = &k.constant {
            if !equal(expected, value) {
                return Err(violation(at, "const", format!("{expected} was expected")));
            }
        }
        if let Some(options) = &k.enumeration {
            if !options.iter().any(|o| equal(o, value)) {
                return Err(violation(at, "enum", enum_message(options)));
            }
        }
        if let Some(c) = &k.condition {
            let branch = if self.valid(&c.test, value) {
                &c.then
            } else {
                &c.otherwise
            };
            if let Some(branch) = branch {
                self.check(branch, value, at)?;
            }
        }
        if let Some(array) = value.as_array() {
            if let Some(items) = &k.items {
                for (i, item) in array.iter().enumerate() {
                    self.check(items, item, Some(&Loc::index(at, i)))?;
                }
            }
            let len = array.len() as u64;
            if let Some(max) = k.max_items.filter(|max| len > *max) {
                let message = format!("value has more than {max} item{}", plural(max));
                return Err(violation(at, "maxItems", message));
            }
        }
        let chars = value.as_str().map(|s| s.chars().count() as u64);
        if let Some(max) = k.max_length.filter(|max| chars.is_some_and(|n| n > *max)) {
            let message = format!("value is longer than {max} character{}", plural(max));
            return Err(violation(at, "maxLength", message));
        }
        if let (Some(min), Some(array)) = (k.min_items, value.as_array()) {
            if (array.len() as u64) < min {
                let message = format!("value has less than {min} item{}", plural(min));
                return Err(violation(at, "minItems", message));
            }
        }
        if let Some(min) = k.min_length.filter(|min| chars.is_some_and(|n| n < *min)) {
            let message = format!("value is shorter than {min} character{}", plural(min));
            return Err(violation(at, "minLength", message));
        }
        if let Some((sub, shown)) = &k.not {
            if self.valid(sub, value) {
                return Err(violation(
                    at,
                    "not",
                    format!("{shown} is not allowed for value"),
                ));
            }
        }
        if !k.one_of.is_empty() {
            let matching = k.one_of.iter().filter(|s| self.valid(s, value)).count();
            let problem = match matching {
                1 => None,
                0 => Some("is not valid under any"),
                _ => Some("is valid under more than one"),
            };
            if let Some(problem) = problem {
                let message =
                    format!("value {problem} of the schemas listed in the 'oneOf' keyword");
                return Err(violation(at, "oneOf", message));
            }
        }
        if let (Some((regex, source)), Some(s)) = (&k.pattern, value.as_str()) {
            if !regex.is_match(s) {
                let message = format!("value does not match \"{source}\"");
                return Err(violation(at, "pattern", message));
            }
        }
        if let Some(object) = value.as_object() {
            for (name, sub) in &k.properties {
                if let Some(v) = object.get(name) {
                    self.check(sub, v, Some(&Loc::key(at, name)))?;
                }
            }
            if let Some(missing) = k.required.iter().find(|r| !object.contains_key(*r)) {
                let message = format!("{} is a required property", Value::from(missing.as_str()));
                return Err(violation(at, "required", message));
            }
        }
        if !k.types.is_empty() && !k.types.iter().any(|t| t.matches(value)) {
            return Err(violation(at, "type", type_message(&k.types)));
        }
        Ok(())
    }

    fn valid(&self, node: &Node, value: &Value) -> bool {
        self.check(node, value, None).is_ok()
    }

    /// A `$ref` chain that comes back to its start without descending into the instance
    /// would recurse forever on any command: refused at load.
    fn refuse_reference_cycles(&self) -> Result<(), CompileError> {
        for start in 0..self.defs.len() {
            let mut stack = vec![start];
            let mut seen = vec![false; self.defs.len()];
            while let Some(def) = stack.pop() {
                let mut next = Vec::new();
                if let Some(node) = self.defs.get(def) {
                    in_place_refs(node, &mut next);
                }
                for n in next {
                    if n == start {
                        return Err(CompileError::new(
                            "/$defs",
                            "a $ref cycle that never descends into the instance",
                        ));
                    }
                    if let Some(s) = seen.get_mut(n) {
                        if !*s {
                            *s = true;
                            stack.push(n);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The defs a node applies to the same instance (not to a property or an item).
fn in_place_refs(node: &Node, out: &mut Vec<usize>) {
    let Node::Keywords(k) = node else { return };
    out.extend(k.reference);
    for sub in k.all_of.iter().chain(&k.any_of).chain(&k.one_of) {
        in_place_refs(sub, out);
    }
    if let Some((sub, _)) = &k.not {
        in_place_refs(sub, out);
    }
    if let Some(c) = &k.condition {
        in_place_refs(&c.test, out);
        for sub in c.then.iter().chain(&c.otherwise) {
            in_place_refs(sub, out);
        }
    }
}

struct Compiler<'d> {
    defs: HashMap<&'d str, usize>,
}

impl Compiler<'_> {
    fn node(&self, schema: &Value, at: &str) -> Result<Node, CompileError> {
        let object = match schema {
            Value::Bool(true) => return Ok(Node::Any),
            Value::Bool(false) => return Ok(Node::Never),
            Value::Object(object) => object,
            _ => return Err(CompileError::new(at, "a schema is an object or a boolean")),
        };
        let mut k = Keywords::default();
        let mut rejects = false;
        for (keyword, value) in object {
            let here = format!("{at}/{}", escape(keyword));
            let sub = |v: &Value| self.node(v, &here);
            match keyword.as_str() {
                "$schema" if at.is_empty() && value.as_str() == Some(DIALECT) => continue,
                "$defs" if at.is_empty() => continue,
                "then" | "else" if object.contains_key("if") => continue,
                k if ANNOTATIONS.contains(&k) => continue,
                "$ref" => k.reference = Some(self.reference(value, &here)?),
                "additionalProperties" => k.additional_properties = Some(sub(value)?),
                "allOf" => k.all_of = self.list(value, &here)?,
                "anyOf" => k.any_of = self.list(value, &here)?,
                "oneOf" => k.one_of = self.list(value, &here)?,
                "not" => k.not = Some((sub(value)?, value.clone())),
                "const" => k.constant = Some(value.clone()),
                "enum" => match value.as_array() {
                    Some(options) if !options.is_empty() => k.enumeration = Some(options.clone()),
                    _ => return Err(CompileError::new(&here, "must be a non-empty array")),
                },
                "if" => {
                    let branch = |name: &str| {
                        object
                            .get(name)
                            .map(|v| self.node(v, &format!("{at}/{name}")))
                            .transpose()
                    };
                    k.condition = Some(Condition {
                        test: sub(value)?,
                        then: branch("then")?,
                        otherwise: branch("else")?,
                    });
                }
                "items" => k.items = Some(sub(value)?),
                "maxItems" => k.max_items = Some(count(value, &here)?),
                "minItems" => k.min_items = Some(count(value, &here)?),
                "maxLength" => k.max_length = Some(count(value, &here)?),
                "minLength" => k.min_length = Some(count(value, &here)?),
                "pattern" => k.pattern = Some(pattern(value, &here)?),
                "properties" => {
                    let Some(props) = value.as_object() else {
                        return Err(CompileError::new(&here, "must be an object"));
                    };
                    for (name, s) in props {
                        let node = self.node(s, &format!("{here}/{}", escape(name)))?;
                        k.properties.push((name.clone(), node));
                    }
                }
                "required" => k.required = strings(value, &here)?,
                "type" => k.types = types(value, &here)?,
                other => {
                    let problem = format!("keyword {other:?} is not implemented by schema.rs");
                    return Err(CompileError::new(&here, &problem));
                }
            }
            rejects = true;
        }
        Ok(if rejects {
            Node::Keywords(Box::new(k))
        } else {
            Node::Any
        })
    }

    fn list(&self, value: &Value, at: &str) -> Result<Vec<Node>, CompileError> {
        match value.as_array() {
            Some(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, s)| self.node(s, &format!("{at}/{i}")))
                .collect(),
            _ => Err(CompileError::new(at, "must be a non-empty array")),
        }
    }

    fn reference(&self, value: &Value, at: &str) -> Result<usize, CompileError> {
        value
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|name| self.defs.get(unescape(name).as_str()).copied())
            .ok_or_else(|| CompileError::new(at, "only \"#/$defs/<name>\" of this document"))
    }
}

impl CompileError {
    fn new(at: &str, problem: &str) -> Self {
        Self {
            at: if at.is_empty() { "/".into() } else { at.into() },
            problem: problem.into(),
        }
    }
}

fn count(value: &Value, at: &str) -> Result<u64, CompileError> {
    value
        .as_u64()
        .ok_or_else(|| CompileError::new(at, "must be a non-negative integer"))
}

fn strings(value: &Value, at: &str) -> Result<Vec<String>, CompileError> {
    value
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| CompileError::new(at, "must be an array of strings"))
}

fn types(value: &Value, at: &str) -> Result<Vec<Type>, CompileError> {
    let names = match value {
        Value::String(s) => vec![s.clone()],
        _ => strings(value, at)?,
    };
    let mut types: Vec<Type> = names
        .iter()
        .map(|n| Type::parse(n))
        .collect::<Option<_>>()
        .ok_or_else(|| CompileError::new(at, "an unknown type name"))?;
    // The order jsonschema names them in a message.
    types.sort_by_key(|t| *t as u8);
    Ok(types)
}

/// JSON Schema patterns are ECMA-262 regular expressions; the classes whose meaning differs
/// from the `regex` crate's (Unicode there, ASCII in ECMA-262) are refused rather than
/// silently read another way.
fn pattern(value: &Value, at: &str) -> Result<(Regex, String), CompileError> {
    let source = value
        .as_str()
        .ok_or_else(|| CompileError::new(at, "must be a string"))?;
    let mut escaped = false;
    for c in source.chars() {
        if escaped && "dDwWsSbB".contains(c) {
            let problem = format!("\\{c} means another thing in ECMA-262: spell the class out");
            return Err(CompileError::new(at, &problem));
        }
        escaped = !escaped && c == '\\';
    }
    let regex = Regex::new(source).map_err(|e| CompileError::new(at, &e.to_string()))?;
    Ok((regex, source.to_owned()))
}

impl Type {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "string" => Self::String,
            "array" => Self::Array,
            "object" => Self::Object,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match (self, value) {
            (Self::Null, Value::Null)
            | (Self::Boolean, Value::Bool(_))
            | (Self::Number, Value::Number(_))
            | (Self::String, Value::String(_))
            | (Self::Array, Value::Array(_))
            | (Self::Object, Value::Object(_)) => true,
            (Self::Integer, Value::Number(n)) => is_integer(n),
            _ => false,
        }
    }
}

/// 2020-12: a number with a zero fractional part is an integer (1.0 too).
fn is_integer(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// JSON equality, numbers by value (1 and 1.0 are equal).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => objects_equal(x, y),
        _ => a == b,
    }
}

fn objects_equal(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn additional_properties_message(names: &[&String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let verb = if names.len() == 1 { "was" } else { "were" };
    format!(
        "Additional properties are not allowed ({} {verb} unexpected)",
        quoted.join(", ")
    )
}

/// Up to three options named, then how many more.
fn enum_message(options: &[Value]) -> String {
    let mut m = String::from("value is not one of ");
    if options.len() <= 3 {
        for (i, o) in options.iter().enumerate() {
            let sep = match i {
                0 => "",
                i if i + 1 == options.len() => " or ",
                _ => ", ",
            };
            let _ = write!(m, "{sep}{o}");
        }
    } else {
        for (i, o) in options.iter().take(2).enumerate() {
            let _ = write!(m, "{}{o}", if i == 0 { "" } else { ", " });
        }
        let _ = write!(m, " or {} other candidates", options.len() - 2);
    }
    m
}

fn type_message(types: &[Type]) -> String {
    match types {
        [one] => format!("value is not of type \"{}\"", one.name()),
        many => {
            let names: Vec<String> = many.iter().map(|t| format!("\"{}\"", t.name())).collect();
            format!("value is not of types {}", names.join(", "))
        }
    }
}

/// Where in the instance the check is, built up only when a violation is reported.
struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    segment: Segment<'a>,
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Loc<'a> {
    fn key(parent: Option<&'a Loc<'a>>, key: &'a str) -> Self {
        Self {
            parent,
            segment: Segment::Key(key),
        }
    }

    fn index(parent: Option<&'a Loc<'a>>, index: usize) -> Self {
        Self {
            parent,
            segment: Segment::Index(index),
        }
    }
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.segment {
            Segment::Key(k) => write!(f, "/{}", escape(k)),
            Segment::Index(i) => write!(f, "/{i}"),
        }
    }
}

fn violation(at: Option<&Loc>, keyword: &'static str, message: String) -> Violation {
    Violation {
        path: at.map(ToString::to_string).unwrap_or_default(),
        keyword,
        message,
    }
}

/// JSON pointer escaping (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(key: &str) -> String {
    key.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(schema: Value) -> Result<Schema, CompileError> {
        Schema::compile(&schema)
    }

    #[test]
    fn refuses_a_keyword_it_does_not_implement() {
        for (keyword, value) in [
            ("minimum", json!(1)),
            ("format", json!("email")),
            ("patternProperties", json!({})),
            ("unevaluatedProperties", json!(false)),
            ("prefixItems", json!([])),
        ] {
            let err = compile(json!({"properties": {"a": {keyword: value}}})).unwrap_err();
            assert_eq!(err.at, format!("/properties/a/{keyword}"), "{keyword}");
        }
    }

    #[test]
    fn refuses_another_dialect_nested_defs_and_foreign_refs() {
        assert!(compile(json!({"$schema": "http://json-schema.org/draft-07/schema#"})).is_err());
        assert!(compile(json!({"properties": {"a": {"$defs": {}}}})).is_err());
        assert!(compile(json!({"$ref": "other.json#/$defs/a"})).is_err());
        assert!(compile(json!({"$ref": "#/$defs/missing", "$defs": {"a": true}})).is_err());
        assert!(compile(json!({"then": {"required": ["a"]}})).is_err());
        assert!(compile(json!({"enum": []})).is_err());
        assert!(compile(json!({"type": "text"})).is_err());
        assert!(compile(json!({"maxLength": -1})).is_err());
        assert!(compile(json!({"pattern": "("})).is_err());
        assert!(compile(json!({"pattern": "^\\d+$"})).is_err());
    }

    #[test]
    fn refuses_a_reference_cycle_that_would_never_end() {
        let err = compile(json!({"$ref": "#/$defs/a", "$defs": {
            "a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}}))
        .unwrap_err();
        assert!(err.problem.contains("cycle"), "{err}");
        // Through a property it descends, so it ends with the instance.
        let tree = compile(json!({"$ref": "#/$defs/node", "$defs": {
            "node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}}))
        .unwrap();
        assert!(tree.is_valid(&json!({"child": {"child": {}}})));
        assert!(!tree.is_valid(&json!({"child": {"child": 1}})));
    }

    #[test]
    fn names_the_path_and_keyword_and_never_quotes_the_value() {
        let s = compile(json!({"properties": {"a/b": {"items": {"maxLength": 2}}}})).unwrap();
        let v = s
            .first_violation(&json!({"a/b": ["ok", "+5511987654321"]}))
            .unwrap();
        assert_eq!(v.path, "/a~1b/1");
        assert_eq!(v.keyword, "maxLength");
        assert_eq!(v.message, "value is longer than 2 characters");
        assert!(!v.message.contains("5511"));
    }

    #[test]
    fn counts_characters_not_bytes() {
        let s = compile(json!({"maxLength": 3, "minLength": 3})).unwrap();
        assert!(s.is_valid(&json!("éé👍")));
        assert_eq!(
            s.first_violation(&json!("éééé")).unwrap().keyword,
            "maxLength"
        );
        assert_eq!(s.first_violation(&json!("é")).unwrap().keyword, "minLength");
    }

    #[test]
    fn integers_include_whole_floats_and_constants_compare_numbers_by_value() {
        let s = compile(json!({"type": "integer", "const": 2})).unwrap();
        assert!(s.is_valid(&json!(2.0)));
        assert_eq!(s.first_violation(&json!(2.5)).unwrap().keyword, "const");
        let m = s.first_violation(&json!("2")).unwrap();
        assert_eq!((m.keyword, m.message.as_str()), ("const", "2 was expected"));
    }

    #[test]
    fn one_of_needs_exactly_one() {
        let s = compile(json!({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]})).unwrap();
        assert!(s.is_valid(&json!({"a": 1})));
        let none = s.first_violation(&json!({})).unwrap();
        assert_eq!(
            none.message,
            "value is not valid under any of the schemas listed in the 'oneOf' keyword"
        );
        let both = s.first_violation(&json!({"a": 1, "b": 2})).unwrap();
        assert_eq!(
            both.message,
            "value is valid under more than one of the schemas listed in the 'oneOf' keyword"
        );
    }

    #[test]
    fn if_then_else_and_not_choose_by_the_condition() {
        let s = compile(json!({
            "if": {"properties": {"t": {"not": {"const": "x"}}}},
            "then": {"required": ["to"]},
            "else": {"required": ["id"]}
        }))
        .unwrap();
        assert!(s.is_valid(&json!({"t": "y", "to": 1})));
        assert!(s.is_valid(&json!({"t": "x", "id": 1})));
        let v = s.first_violation(&json!({"t": "x"})).unwrap();
        assert_eq!(v.message, "\"id\" is a required property");
        let n = compile(json!({"not": {"type": "string"}})).unwrap();
        let v = n.first_violation(&json!("a")).unwrap();
        assert_eq!(v.message, "{\"type\":\"string\"} is not allowed for value");
    }

    #[test]
    fn additional_properties_lists_every_unexpected_name() {
        let s = compile(json!({"properties": {"a": true}, "additionalProperties": false})).unwrap();
        assert!(s.is_valid(&json!({"a": 1})));
        let v = s.first_violation(&json!({"a": 1, "b": 2, "c": 3})).unwrap();
        assert_eq!(
            v.message,
            "Additional properties are not allowed ('b', 'c' were unexpected)"
        );
        let typed = compile(json!({"additionalProperties": {"type": "string"}})).unwrap();
        assert_eq!(typed.first_violation(&json!({"x": 1})).unwrap().path, "/x");
    }

    #[test]
    fn enum_and_type_messages_name_the_options() {
        let e = compile(json!({"enum": ["a", "b", "c", "d"]})).unwrap();
        assert_eq!(
            e.first_violation(&json!("z")).unwrap().message,
            "value is not one of \"a\", \"b\" or 2 other candidates"
        );
        let e = compile(json!({"enum": ["a", "b"]})).unwrap();
        assert_eq!(
            e.first_violation(&json!("z")).unwrap().message,
            "value is not one of \"a\" or \"b\""
        );
        let t = compile(json!({"type": ["string", "integer"]})).unwrap();
        assert_eq!(
            t.first_violation(&json!(true)).unwrap().message,
            "value is not of types \"integer\", \"string\""
        );
        assert_eq!(
            compile(json!(false))
                .unwrap()
                .first_violation(&json!(1))
                .unwrap()
                .keyword,
            "falseSchema"
        );
    }
}
