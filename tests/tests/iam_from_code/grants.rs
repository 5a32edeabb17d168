//! What the template grants each function, read from the CloudFormation that SAM's own
//! translator produces (`infra/python/sam_expand.py`), so policy templates such as
//! `SQSSendMessagePolicy` count with the statements AWS will really attach.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One allowed action on one resource, the resource named by its logical id plus a suffix
/// (`StateTable`, `StateTable/index/due-index`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    pub resource: String,
}

/// A function as deployed: its binary, its environment (variable -> logical id it points at),
/// its inline grants and its managed policies.
#[derive(Debug)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
    pub env: Vec<(String, String)>,
    pub grants: BTreeSet<Grant>,
    pub managed: BTreeSet<String>,
}

/// Runs SAM's translator on `template` with the tools venv's Python.
pub fn expand(python: &Path, template: &Path) -> Result<Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/python/sam_expand.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(template)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} ({e}); `make test` installs it (the tools venv)",
                python.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "SAM's translator rejected {}:\n{}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("translator output: {e}"))
}

/// Every Lambda function of the expanded template with what its role allows.
pub fn functions(cfn: &Value) -> Result<Vec<Function>, String> {
    let resources = cfn["Resources"]
        .as_object()
        .ok_or("the template has no Resources")?;
    let mut out = Vec::new();
    for (id, r) in resources {
        if r["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| format!("{id} has no Metadata.BuildProperties.Binary"))?
            .to_owned();
        let role_id = r["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .ok_or_else(|| format!("{id}'s Role is not a role of this template"))?;
        let role = &resources
            .get(role_id)
            .ok_or_else(|| format!("{id}'s role {role_id} is missing"))?["Properties"];
        let env = r["Properties"]["Environment"]["Variables"]
            .as_object()
            .map(|vars| {
                vars.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v["Ref"].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let mut grants = BTreeSet::new();
        for policy in role["Policies"].as_array().into_iter().flatten() {
            for statement in one_or_many(&policy["PolicyDocument"]["Statement"]) {
                grants.extend(statement_grants(id, statement)?);
            }
        }
        let managed = role["ManagedPolicyArns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                a.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| a.to_string())
            })
            .collect();
        out.push(Function {
            logical_id: id.clone(),
            binary,
            env,
            grants,
            managed,
        });
    }
    Ok(out)
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The grants of one statement; anything but a plain Allow of actions on named resources is an
/// error, because the comparison could not be exact.
pub fn statement_grants(function: &str, s: &Value) -> Result<Vec<Grant>, String> {
    if s["Effect"] != "Allow" || s.get("NotAction").is_some() || s.get("NotResource").is_some() {
        return Err(format!(
            "{function}: only Allow statements with Action and Resource are understood: {s}"
        ));
    }
    let mut out = Vec::new();
    for action in one_or_many(&s["Action"]) {
        let action = action
            .as_str()
            .ok_or_else(|| format!("{function}: action {action} is not a string"))?;
        for resource in one_or_many(&s["Resource"]) {
            out.push(Grant {
                action: action.to_owned(),
                resource: resource_name(resource)
                    .ok_or_else(|| format!("{function}: unrecognised resource {resource}"))?,
            });
        }
    }
    Ok(out)
}

/// `StateTable` for `!GetAtt StateTable.Arn`, `!Ref MetaSecret`, or an ARN that SAM builds from
/// a table or queue name; `StateTable/index/x` for `!Sub "${StateTable.Arn}/index/x"`.
/// `None` for a literal ARN, a wildcard or a form not listed here.
pub fn resource_name(v: &Value) -> Option<String> {
    if let Some(id) = v["Ref"].as_str() {
        return Some(id.to_owned());
    }
    if let Some([id, attr]) = v["Fn::GetAtt"].as_array().map(Vec::as_slice) {
        return (attr == "Arn").then(|| id.as_str().map(str::to_owned))?;
    }
    let (text, vars) = match &v["Fn::Sub"] {
        Value::String(t) => (t.as_str(), None),
        Value::Array(parts) => (parts.first()?.as_str()?, parts.get(1)),
        _ => return None,
    };
    // The one placeholder that is not a pseudo parameter names the resource.
    let mut rest = text;
    let mut found = None;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 2..end];
        if !name.starts_with("AWS::") {
            if found.is_some() {
                return None;
            }
            let prefix = &text[..text.len() - rest.len() + start];
            found = Some((
                prefix.to_owned(),
                name.to_owned(),
                rest[end + 1..].to_owned(),
            ));
        }
        rest = &rest[end + 1..];
    }
    let (prefix, name, suffix) = found?;
    let id = match vars.and_then(|vars| vars.get(&name)) {
        Some(bound) => match (&bound["Ref"], &bound["Fn::GetAtt"]) {
            (Value::String(id), _) => id.clone(),
            (_, Value::Array(pair)) => pair.first()?.as_str()?.to_owned(),
            _ => return None,
        },
        None => name.strip_suffix(".Arn")?.to_owned(),
    };
    let by_name = [
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:",
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/",
    ];
    (prefix.is_empty() || by_name.contains(&prefix.as_str())).then(|| format!("{id}{suffix}"))
}
