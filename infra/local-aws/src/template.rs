//! Reads a CloudFormation/SAM template and evaluates the intrinsics that name resources.
//!
//! YAML short tags (`!Ref`, `!Sub`, …) are first rewritten to their long forms (`Ref`,
//! `Fn::Sub`, …), so one evaluator serves both spellings. Parameters, pseudo parameters and
//! conditions are resolved; references to other resources (`Ref X`, `Fn::GetAtt`) are kept as
//! they are, because only provisioning can tell what they point to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as Yaml;

use crate::error::TemplateError;

/// Guards against `Condition` cycles and absurd nesting in hand-written templates.
const MAX_DEPTH: usize = 64;

/// The template's path in this workspace: `template.yaml` at the repository root.
pub fn workspace_template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("template.yaml")
}

/// Parameter values that override the template's defaults (pseudo parameters such as
/// `AWS::Region` may be overridden too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    values: BTreeMap<String, String>,
}

impl Parameters {
    /// The template's defaults, as `sam deploy` would use them without overrides.
    pub fn defaults() -> Self {
        Self::default()
    }

    /// The local environment: `ResourcePrefix` is empty, so names equal docs/architecture.md.
    pub fn local() -> Self {
        Self::default().with("ResourcePrefix", "")
    }

    /// Sets (or replaces) one parameter value.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// The value set for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// A parsed template whose short tags are already normalised to long-form intrinsics.
#[derive(Debug, Clone)]
pub struct Template {
    root: Map<String, Json>,
}

impl Template {
    /// Parses template text.
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let doc: Yaml = serde_yaml_ng::from_str(yaml)?;
        match normalise(doc, "")? {
            Json::Object(root) => Ok(Self { root }),
            _ => Err(TemplateError::Shape {
                at: "/".to_owned(),
                expected: "a mapping at the top level",
            }),
        }
    }

    /// Reads and parses the template at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// A top-level section (`Resources`, `Globals`, …) as a mapping; absent means empty.
    pub(crate) fn section(&self, name: &str) -> Result<Map<String, Json>, TemplateError> {
        match self.root.get(name) {
            None | Some(Json::Null) => Ok(Map::new()),
            Some(Json::Object(map)) => Ok(map.clone()),
            Some(_) => Err(TemplateError::Shape {
                at: format!("/{name}"),
                expected: "a mapping",
            }),
        }
    }
}

/// Rewrites a YAML tree into JSON, turning `!Tag value` into `{"Fn::Tag": value}` (or
/// `{"Ref": …}` / `{"Condition": …}`) and `!GetAtt A.B` into `{"Fn::GetAtt": ["A", "B"]}`.
fn normalise(value: Yaml, at: &str) -> Result<Json, TemplateError> {
    Ok(match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(b),
        Yaml::Number(n) => yaml_number(&n, at)?,
        Yaml::String(s) => Json::String(s),
        Yaml::Sequence(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| normalise(item, &format!("{at}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut out = Map::new();
            for (key, item) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    _ => {
                        return Err(TemplateError::Shape {
                            at: at.to_owned(),
                            expected: "scalar mapping keys",
                        })
                    }
                };
                let child = normalise(item, &format!("{at}/{key}"))?;
                out.insert(key, child);
            }
            Json::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = normalise(tagged.value, at)?;
            let (key, inner) = match name {
                "Ref" => ("Ref".to_owned(), inner),
                "Condition" => ("Condition".to_owned(), inner),
                "GetAtt" => ("Fn::GetAtt".to_owned(), split_get_att(inner, at)?),
                other => (format!("Fn::{other}"), inner),
            };
            let mut out = Map::new();
            out.insert(key, inner);
            Json::Object(out)
        }
    })
}

fn yaml_number(n: &serde_yaml_ng::Number, at: &str) -> Result<Json, TemplateError> {
    if let Some(i) = n.as_i64() {
        Ok(Json::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Json::from(u))
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .ok_or_else(|| TemplateError::Shape {
                at: at.to_owned(),
                expected: "a finite number",
            })
    }
}

/// `!GetAtt Logical.Attr` is a string; the long form is a two-item list.
fn split_get_att(inner: Json, at: &str) -> Result<Json, TemplateError> {
    match inner {
        Json::String(s) => match s.split_once('.') {
            Some((id, attr)) => Ok(Json::Array(vec![Json::from(id), Json::from(attr)])),
            None => Err(TemplateError::Shape {
                at: at.to_owned(),
                expected: "!GetAtt Logical.Attribute",
            }),
        },
        other => Ok(other),
    }
}

/// Values for `Ref` of a parameter: a list for `CommaDelimitedList`/`List<…>` types.
#[derive(Debug, Clone)]
struct ParamValue {
    value: String,
    is_list: bool,
}

/// Evaluates intrinsics against parameter values and conditions.
#[derive(Debug)]
pub(crate) struct Evaluator {
    params: BTreeMap<String, ParamValue>,
    conditions: Map<String, Json>,
    resources: Map<String, Json>,
}

impl Evaluator {
    /// Merges defaults with `overrides`, checks `AllowedValues`, and rejects unknown overrides.
    pub(crate) fn new(template: &Template, overrides: &Parameters) -> Result<Self, TemplateError> {
        let declared = template.section("Parameters")?;
        let mut params = BTreeMap::new();
        for (name, spec) in &declared {
            let at = format!("/Parameters/{name}");
            let spec = as_object(spec, &at)?;
            let is_list = match spec.get("Type") {
                Some(Json::String(t)) => t == "CommaDelimitedList" || t.starts_with("List<"),
                _ => false,
            };
            let value = match overrides.get(name) {
                Some(v) => Some(v.to_owned()),
                None => spec
                    .get("Default")
                    .map(|d| scalar_string(d, &at))
                    .transpose()?,
            };
            let Some(value) = value else { continue };
            if let Some(Json::Array(allowed)) = spec.get("AllowedValues") {
                let allowed = allowed
                    .iter()
                    .map(|a| scalar_string(a, &at))
                    .collect::<Result<Vec<_>, _>>()?;
                if !allowed.contains(&value) {
                    return Err(TemplateError::DisallowedParameterValue {
                        name: name.clone(),
                        value,
                    });
                }
            }
            params.insert(name.clone(), ParamValue { value, is_list });
        }
        for (name, value) in &overrides.values {
            if declared.contains_key(name) {
                continue;
            }
            if !PSEUDO_PARAMETERS.iter().any(|(p, _)| p == name) {
                return Err(TemplateError::UnknownParameter(name.clone()));
            }
            params.insert(
                name.clone(),
                ParamValue {
                    value: value.clone(),
                    is_list: false,
                },
            );
        }
        for (name, value) in PSEUDO_PARAMETERS {
            params
                .entry((*name).to_owned())
                .or_insert_with(|| ParamValue {
                    value: (*value).to_owned(),
                    is_list: false,
                });
        }
        Ok(Self {
            params,
            conditions: template.section("Conditions")?,
            resources: template.section("Resources")?,
        })
    }

    /// Resolved parameter values (pseudo parameters excluded).
    pub(crate) fn parameter_values(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .filter(|(name, _)| !name.starts_with("AWS::"))
            .map(|(name, p)| (name.clone(), p.value.clone()))
            .collect()
    }

    pub(crate) fn is_resource(&self, logical_id: &str) -> bool {
        self.resources.contains_key(logical_id)
    }

    /// Evaluates `value`; `None` means `AWS::NoValue` (the property is absent).
    pub(crate) fn eval(&self, value: &Json, at: &str) -> Result<Option<Json>, TemplateError> {
        self.eval_depth(value, at, 0)
    }

    fn eval_depth(
        &self,
        value: &Json,
        at: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        if depth > MAX_DEPTH {
            return Err(TemplateError::TooDeep { at: at.to_owned() });
        }
        match value {
            Json::Object(map) => {
                if let Some((key, arg)) = single_intrinsic(map) {
                    return self.eval_intrinsic(key, arg, value, at, depth);
                }
                let mut out = Map::new();
                for (key, item) in map {
                    if let Some(v) = self.eval_depth(item, &format!("{at}/{key}"), depth + 1)? {
                        out.insert(key.clone(), v);
                    }
                }
                Ok(Some(Json::Object(out)))
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.eval_depth(item, &format!("{at}/{i}"), depth + 1)? {
                        out.push(v);
                    }
                }
                Ok(Some(Json::Array(out)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    fn eval_intrinsic(
        &self,
        key: &str,
        arg: &Json,
        original: &Json,
        at: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        match key {
            "Ref" => {
                let name = arg.as_str().ok_or_else(|| TemplateError::Shape {
                    at: at.to_owned(),
                    expected: "Ref to a name",
                })?;
                self.eval_ref(name, original, at)
            }
            "Fn::GetAtt" => {
                let (id, _attr) = get_att_parts(arg, at)?;
                if !self.is_resource(id) {
                    return Err(TemplateError::UnknownReference {
                        at: at.to_owned(),
                        name: id.to_owned(),
                    });
                }
                Ok(Some(original.clone()))
            }
            "Fn::Sub" => self.eval_sub(arg, original, at, depth),
            "Fn::If" => {
                let parts = arg.as_array().ok_or_else(|| TemplateError::Shape {
                    at: at.to_owned(),
                    expected: "Fn::If [condition, then, else]",
                })?;
                let (Some(cond), Some(then), Some(otherwise), 3) =
                    (parts.first(), parts.get(1), parts.get(2), parts.len())
                else {
                    return Err(TemplateError::Shape {
                        at: at.to_owned(),
                        expected: "Fn::If [condition, then, else]",
                    });
                };
                let cond = cond.as_str().ok_or_else(|| TemplateError::Shape {
                    at: at.to_owned(),
                    expected: "a condition name in Fn::If",
                })?;
                let branch = if self.condition(cond, depth + 1)? {
                    then
                } else {
                    otherwise
                };
                self.eval_depth(branch, at, depth + 1)
            }
            "Fn::Join" => {
                let evaluated = self.eval_depth(arg, at, depth + 1)?;
                let joined = evaluated.as_ref().and_then(|args| {
                    let parts = args.as_array()?;
                    let delimiter = parts.first()?.as_str()?;
                    let items = parts.get(1)?.as_array()?;
                    let strings: Option<Vec<String>> = items.iter().map(plain_string).collect();
                    Some(strings?.join(delimiter))
                });
                Ok(Some(match joined {
                    Some(s) => Json::String(s),
                    None => original.clone(),
                }))
            }
            // Other intrinsics (Fn::Select, Fn::FindInMap, …) are left for CloudFormation; typed
            // extraction reports them if a value the local model needs depends on one.
            _ => Ok(Some(original.clone())),
        }
    }

    fn eval_ref(
        &self,
        name: &str,
        original: &Json,
        at: &str,
    ) -> Result<Option<Json>, TemplateError> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(p) = self.params.get(name) {
            return Ok(Some(if p.is_list {
                Json::Array(p.value.split(',').map(|s| Json::from(s.trim())).collect())
            } else {
                Json::String(p.value.clone())
            }));
        }
        if self.is_resource(name) {
            return Ok(Some(original.clone()));
        }
        Err(TemplateError::UnknownReference {
            at: at.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `Fn::Sub` with parameters and pseudo parameters; a `${Resource}` or `${Resource.Attr}`
    /// leaves the whole expression unevaluated.
    fn eval_sub(
        &self,
        arg: &Json,
        original: &Json,
        at: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        let (text, vars) = match arg {
            Json::String(s) => (s.as_str(), Map::new()),
            Json::Array(parts) => match (parts.first(), parts.get(1), parts.len()) {
                (Some(Json::String(s)), Some(Json::Object(vars)), 2) => {
                    let mut evaluated = Map::new();
                    for (k, v) in vars {
                        if let Some(v) = self.eval_depth(v, &format!("{at}/{k}"), depth + 1)? {
                            evaluated.insert(k.clone(), v);
                        }
                    }
                    (s.as_str(), evaluated)
                }
                _ => {
                    return Err(TemplateError::Shape {
                        at: at.to_owned(),
                        expected: "Fn::Sub [text, {variables}]",
                    })
                }
            },
            _ => {
                return Err(TemplateError::Shape {
                    at: at.to_owned(),
                    expected: "Fn::Sub text",
                })
            }
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(rest.get(..start).unwrap_or_default());
            let after = rest.get(start + 2..).unwrap_or_default();
            let Some(end) = after.find('}') else {
                return Err(TemplateError::BadSub {
                    at: at.to_owned(),
                    reason: "unterminated ${",
                });
            };
            let name = after.get(..end).unwrap_or_default().trim();
            rest = after.get(end + 1..).unwrap_or_default();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            if let Some(v) = vars.get(name) {
                match plain_string(v) {
                    Some(s) => out.push_str(&s),
                    None => return Ok(Some(original.clone())),
                }
                continue;
            }
            if let Some(p) = self.params.get(name) {
                out.push_str(&p.value);
                continue;
            }
            let resource = name.split_once('.').map_or(name, |(id, _)| id);
            if self.is_resource(resource) {
                return Ok(Some(original.clone()));
            }
            return Err(TemplateError::UnknownReference {
                at: at.to_owned(),
                name: name.to_owned(),
            });
        }
        out.push_str(rest);
        Ok(Some(Json::String(out)))
    }

    /// Evaluates the named entry of `Conditions`.
    pub(crate) fn condition(&self, name: &str, depth: usize) -> Result<bool, TemplateError> {
        let at = format!("/Conditions/{name}");
        let body = self
            .conditions
            .get(name)
            .ok_or_else(|| TemplateError::UnknownCondition(name.to_owned()))?;
        self.condition_body(body, &at, depth + 1)
    }

    fn condition_body(&self, body: &Json, at: &str, depth: usize) -> Result<bool, TemplateError> {
        if depth > MAX_DEPTH {
            return Err(TemplateError::TooDeep { at: at.to_owned() });
        }
        let bad = || TemplateError::Shape {
            at: at.to_owned(),
            expected: "a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)",
        };
        let map = body.as_object().ok_or_else(bad)?;
        let (key, arg) = single_intrinsic(map).ok_or_else(bad)?;
        match key {
            "Condition" => self.condition(arg.as_str().ok_or_else(bad)?, depth + 1),
            "Fn::Equals" => {
                let parts = arg.as_array().ok_or_else(bad)?;
                let (Some(a), Some(b), 2) = (parts.first(), parts.get(1), parts.len()) else {
                    return Err(bad());
                };
                let a = self.eval_depth(a, at, depth + 1)?;
                let b = self.eval_depth(b, at, depth + 1)?;
                let a = a.as_ref().and_then(plain_string);
                let b = b.as_ref().and_then(plain_string);
                match (a, b) {
                    (Some(a), Some(b)) => Ok(a == b),
                    _ => Err(TemplateError::Shape {
                        at: at.to_owned(),
                        expected: "Fn::Equals on values known before deployment",
                    }),
                }
            }
            "Fn::Not" => {
                let parts = arg.as_array().ok_or_else(bad)?;
                match (parts.first(), parts.len()) {
                    (Some(inner), 1) => Ok(!self.condition_body(inner, at, depth + 1)?),
                    _ => Err(bad()),
                }
            }
            "Fn::And" | "Fn::Or" => {
                let parts = arg.as_array().ok_or_else(bad)?;
                let mut results = Vec::with_capacity(parts.len());
                for part in parts {
                    results.push(self.condition_body(part, at, depth + 1)?);
                }
                Ok(if key == "Fn::And" {
                    results.iter().all(|r| *r)
                } else {
                    results.iter().any(|r| *r)
                })
            }
            _ => Err(bad()),
        }
    }
}

/// Values of the pseudo parameters when nothing overrides them (moto's account id).
const PSEUDO_PARAMETERS: &[(&str, &str)] = &[
    ("AWS::AccountId", "123456789012"),
    ("AWS::Region", "us-east-1"),
    ("AWS::Partition", "aws"),
    ("AWS::URLSuffix", "amazonaws.com"),
    ("AWS::StackName", "wa-crm-bridge"),
    (
        "AWS::StackId",
        "arn:aws:cloudformation:us-east-1:123456789012:stack/wa-crm-bridge/local",
    ),
];

/// `{"Ref": x}` or `{"Fn::…": x}` or `{"Condition": x}`: the key and its argument.
pub(crate) fn single_intrinsic(map: &Map<String, Json>) -> Option<(&str, &Json)> {
    if map.len() != 1 {
        return None;
    }
    let (key, arg) = map.iter().next()?;
    (key == "Ref" || key == "Condition" || key.starts_with("Fn::")).then_some((key.as_str(), arg))
}

/// The logical id and attribute of a `Fn::GetAtt` argument.
pub(crate) fn get_att_parts<'a>(
    arg: &'a Json,
    at: &str,
) -> Result<(&'a str, &'a str), TemplateError> {
    let bad = || TemplateError::Shape {
        at: at.to_owned(),
        expected: "Fn::GetAtt [Logical, Attribute]",
    };
    let parts = arg.as_array().ok_or_else(bad)?;
    match (parts.first(), parts.get(1), parts.len()) {
        (Some(Json::String(id)), Some(Json::String(attr)), 2) => Ok((id, attr)),
        _ => Err(bad()),
    }
}

/// A scalar as CloudFormation stringifies it; `None` for lists, maps and unevaluated intrinsics.
pub(crate) fn plain_string(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_string(value: &Json, at: &str) -> Result<String, TemplateError> {
    plain_string(value).ok_or_else(|| TemplateError::Shape {
        at: at.to_owned(),
        expected: "a scalar",
    })
}

pub(crate) fn as_object<'a>(
    value: &'a Json,
    at: &str,
) -> Result<&'a Map<String, Json>, TemplateError> {
    value.as_object().ok_or_else(|| TemplateError::Shape {
        at: at.to_owned(),
        expected: "a mapping",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluator(yaml: &str, params: &Parameters) -> Evaluator {
        let template = Template::parse(yaml).expect("test template parses");
        Evaluator::new(&template, params).expect("parameters are valid")
    }

    const TEMPLATE: &str = "
Parameters:
  Prefix: { Type: String, Default: app- }
  Names: { Type: CommaDelimitedList, Default: 'a, b' }
Resources:
  Queue: { Type: AWS::SQS::Queue }
";

    fn eval(e: &Evaluator, yaml: &str) -> Option<Json> {
        let value = Template::parse(&format!("v: {yaml}")).expect("value parses");
        let v = value.root.get("v").expect("v");
        e.eval(v, "/v").expect("evaluates")
    }

    #[test]
    fn sub_substitutes_parameters_and_pseudo_parameters() {
        let e = evaluator(TEMPLATE, &Parameters::defaults());
        assert_eq!(
            eval(&e, r#"!Sub "${Prefix}inbound-${AWS::Region}""#),
            Some(Json::from("app-inbound-us-east-1"))
        );
    }

    #[test]
    fn sub_uses_the_overridden_value_and_keeps_escaped_literals() {
        let e = evaluator(
            TEMPLATE,
            &Parameters::defaults()
                .with("Prefix", "")
                .with("AWS::Region", "eu-west-1"),
        );
        assert_eq!(
            eval(&e, r#"!Sub "${Prefix}x-${AWS::Region}-${!Literal}""#),
            Some(Json::from("x-eu-west-1-${Literal}"))
        );
    }

    #[test]
    fn sub_with_a_resource_attribute_stays_for_cloudformation() {
        let e = evaluator(TEMPLATE, &Parameters::defaults());
        let kept = eval(&e, r#"!Sub "${Queue.Arn}/x""#).expect("some");
        assert_eq!(kept, serde_json::json!({"Fn::Sub": "${Queue.Arn}/x"}));
    }

    #[test]
    fn sub_naming_something_undeclared_is_an_error() {
        let e = evaluator(TEMPLATE, &Parameters::defaults());
        let value = Template::parse(r#"v: !Sub "${Nope}""#).expect("parses");
        let err = e
            .eval(value.root.get("v").expect("v"), "/v")
            .expect_err("unknown name");
        assert!(matches!(err, TemplateError::UnknownReference { ref name, .. } if name == "Nope"));
    }

    #[test]
    fn short_and_long_forms_normalise_alike() {
        let short = Template::parse("a: !GetAtt Queue.Arn\nb: !Ref Queue").expect("parses");
        let long =
            Template::parse("a: {'Fn::GetAtt': [Queue, Arn]}\nb: {Ref: Queue}").expect("parses");
        assert_eq!(short.root, long.root);
    }

    #[test]
    fn list_parameters_ref_to_lists() {
        let e = evaluator(TEMPLATE, &Parameters::defaults());
        assert_eq!(eval(&e, "!Ref Names"), Some(serde_json::json!(["a", "b"])));
    }

    #[test]
    fn bad_yaml_is_an_error_not_a_panic() {
        for text in ["Resources: [unclosed", "key: : :\n  - x\n bad", "\t- \"a"] {
            assert!(
                matches!(Template::parse(text), Err(TemplateError::Yaml(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_template_that_is_not_a_mapping_is_an_error() {
        assert!(matches!(
            Template::parse("- just\n- a list"),
            Err(TemplateError::Shape { .. })
        ));
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = Template::load("/nonexistent/template.yaml").expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/template.yaml"));
    }

    #[test]
    fn a_condition_cycle_is_an_error_not_a_stack_overflow() {
        let yaml = "
Conditions:
  A: { Condition: B }
  B: { Condition: A }
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: A
    Properties: { QueueName: q }
";
        let err = Template::parse(yaml)
            .and_then(|t| t.model(&Parameters::defaults()))
            .expect_err("cycle");
        assert!(matches!(err, TemplateError::TooDeep { .. }));
    }
}
