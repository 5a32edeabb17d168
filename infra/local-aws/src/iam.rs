//! Each function's IAM role as `template.yaml` gives it, for the local moto to enforce
//! (`infra/python/moto_local/iam.py`).
//!
//! The policies come from SAM's own translator (`infra/python/sam_expand.py`, run with the tools
//! venv's Python), so policy templates and managed policies are what AWS attaches; their
//! references (`!GetAtt StateTable.Arn`, `${AWS::Region}`) are resolved to the names provisioning
//! created. Every stack start gives each role a fresh session (key pair and token) and registers
//! it with every local moto process, since the two processes keep separate state.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rand::Rng;
use serde_json::{json, Value};

use crate::error::LookupError;
use crate::model::EnvValue;
use crate::provision::{Provisioned, DEFAULT_ENDPOINT};
use crate::template::Parameters;

/// moto's account: every ARN it creates carries it.
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

/// Why the roles could not be derived or registered.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("cannot read {template}")]
    Read {
        template: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run SAM's translator with {python} (`make run` and `make test` install the tools venv)")]
    TranslatorMissing {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("SAM's translator rejected {template}: {stderr}")]
    TranslatorFailed { template: PathBuf, stderr: String },
    #[error("SAM's translator printed something other than a template")]
    TranslatorOutput(#[source] serde_json::Error),
    #[error("the translated template: {0}")]
    Shape(String),
    #[error("a policy refers to {0}, which the local resolver does not know")]
    Unresolved(String),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("registering role {role} with the local AWS at {endpoint}")]
    Register {
        role: String,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the local AWS at {endpoint} refused role {role} ({status}): {body}")]
    Refused {
        role: String,
        endpoint: String,
        status: u16,
        body: String,
    },
}

/// One function's role: resolved inline policy documents and AWS managed policy ARNs.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub function_logical_id: String,
    pub binary: String,
    pub role_logical_id: String,
    pub policies: Vec<Value>,
    pub managed_policy_arns: Vec<String>,
}

/// A role session's credentials, as Lambda puts them in a function's environment.
#[derive(Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl SessionCredentials {
    /// A fresh random session in AWS's shapes (`ASIA` + 16 characters for a temporary key).
    pub fn generate() -> Self {
        const KEY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut rng = rand::rng();
        let mut pick = |set: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| char::from(set[rng.random_range(0..set.len())]))
                .collect()
        };
        Self {
            access_key_id: format!("ASIA{}", pick(KEY, 16)),
            secret_access_key: pick(SECRET, 40),
            session_token: pick(SECRET, 96),
        }
    }

    /// The variables Lambda sets for the execution role's session.
    pub fn environment(&self) -> [(String, String); 3] {
        [
            ("AWS_ACCESS_KEY_ID".into(), self.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.secret_access_key.clone(),
            ),
            ("AWS_SESSION_TOKEN".into(), self.session_token.clone()),
        ]
    }
}

/// The tools venv's Python, which has the pinned `aws-sam-translator`.
pub fn workspace_sam_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-tools/bin/python")
}

/// `template` as the CloudFormation SAM's translator makes of it. Cached per template text for
/// the life of the process (the translator takes a second or two; tests start many stacks).
pub async fn expand_template(python: &Path, template: &Path) -> Result<Value, IamError> {
    static CACHE: OnceLock<tokio::sync::Mutex<HashMap<String, Value>>> = OnceLock::new();
    let text = std::fs::read_to_string(template).map_err(|source| IamError::Read {
        template: template.to_owned(),
        source,
    })?;
    let mut cache = CACHE.get_or_init(Default::default).lock().await;
    if let Some(cfn) = cache.get(&text) {
        return Ok(cfn.clone());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/sam_expand.py");
    let (python, template) = (python.to_owned(), template.to_owned());
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&template)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .await
        .map_err(|source| IamError::TranslatorMissing {
            python: python.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(IamError::TranslatorFailed {
            template,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let cfn: Value = serde_json::from_slice(&out.stdout).map_err(IamError::TranslatorOutput)?;
    cache.insert(text, cfn.clone());
    Ok(cfn)
}

/// Every function's role in the translated template `cfn`, with references resolved against
/// what provisioning created.
pub fn roles(
    cfn: &Value,
    provisioned: &Provisioned,
    parameters: &Parameters,
    region: &str,
) -> Result<Vec<RoleSpec>, IamError> {
    let resources = cfn["Resources"]
        .as_object()
        .ok_or_else(|| IamError::Shape("no Resources".into()))?;
    let resolver = Resolver {
        provisioned,
        parameters,
        region,
    };
    let mut out = Vec::new();
    for (id, r) in resources {
        if r["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| {
                IamError::Shape(format!("{id} has no Metadata.BuildProperties.Binary"))
            })?;
        let role_id = r["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .ok_or_else(|| IamError::Shape(format!("{id}'s Role is not a role of the template")))?;
        let role = resources
            .get(role_id)
            .filter(|role| role["Type"] == "AWS::IAM::Role")
            .ok_or_else(|| IamError::Shape(format!("{id}'s role {role_id} is missing")))?;
        let policies = role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolver.resolve(&p["PolicyDocument"]))
            .collect::<Result<Vec<_>, _>>()?;
        let managed_policy_arns = role["Properties"]["ManagedPolicyArns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| resolver.string(a))
            .collect::<Result<Vec<_>, IamError>>()?;
        out.push(RoleSpec {
            function_logical_id: id.clone(),
            binary: binary.to_owned(),
            role_logical_id: role_id.to_owned(),
            policies,
            managed_policy_arns,
        });
    }
    Ok(out)
}

/// Where the local AWS listens: `AWS_ENDPOINT_URL` (or [`DEFAULT_ENDPOINT`]) and every
/// per-service endpoint, each once.
pub fn local_endpoints() -> Vec<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut endpoints: BTreeSet<String> = [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_KMS",
    ]
    .into_iter()
    .filter_map(var)
    .collect();
    endpoints.insert(var("AWS_ENDPOINT_URL").unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()));
    endpoints
        .into_iter()
        .map(|e| e.trim_end_matches('/').to_owned())
        .collect()
}

/// Makes `credentials` a session of role `role_name` (with `role`'s policies) on every endpoint.
pub async fn register(
    endpoints: &[String],
    role_name: &str,
    role: &RoleSpec,
    credentials: &SessionCredentials,
) -> Result<(), IamError> {
    let body = json!({
        "role_name": role_name,
        "session_name": role.binary,
        "access_key_id": credentials.access_key_id,
        "secret_access_key": credentials.secret_access_key,
        "session_token": credentials.session_token,
        "policies": role.policies,
        "managed_policy_arns": role.managed_policy_arns,
    });
    let client = reqwest::Client::new();
    for endpoint in endpoints {
        let failed = |source| IamError::Register {
            role: role_name.to_owned(),
            endpoint: endpoint.clone(),
            source,
        };
        let res = client
            .post(format!("{endpoint}/_local/iam/sessions"))
            .json(&body)
            .send()
            .await
            .map_err(failed)?;
        let status = res.status().as_u16();
        if status != 201 {
            return Err(IamError::Refused {
                role: role_name.to_owned(),
                endpoint: endpoint.clone(),
                status,
                body: res.text().await.unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// Resolves CloudFormation intrinsics in a policy document the way CloudFormation would for
/// the local stack.
struct Resolver<'a> {
    provisioned: &'a Provisioned,
    parameters: &'a Parameters,
    region: &'a str,
}

impl Resolver<'_> {
    fn resolve(&self, value: &Value) -> Result<Value, IamError> {
        match value {
            Value::Array(items) => items.iter().map(|v| self.resolve(v)).collect(),
            Value::Object(map) if map.len() == 1 && Self::intrinsic(map) => {
                Ok(Value::String(self.string(value)?))
            }
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                .collect::<Result<serde_json::Map<_, _>, IamError>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    fn intrinsic(map: &serde_json::Map<String, Value>) -> bool {
        map.keys().all(|k| k == "Ref" || k.starts_with("Fn::"))
    }

    fn string(&self, value: &Value) -> Result<String, IamError> {
        if let Some(s) = value.as_str() {
            return Ok(s.to_owned());
        }
        if let Some(name) = value["Ref"].as_str() {
            return self.reference(name);
        }
        match &value["Fn::GetAtt"] {
            Value::Array(pair) => {
                if let [Value::String(id), Value::String(attr)] = pair.as_slice() {
                    return self.attribute(id, attr);
                }
            }
            Value::String(dotted) => {
                if let Some((id, attr)) = dotted.split_once('.') {
                    return self.attribute(id, attr);
                }
            }
            _ => {}
        }
        match &value["Fn::Sub"] {
            Value::String(text) => return self.sub(text, None),
            Value::Array(parts) => {
                if let [Value::String(text), Value::Object(vars)] = parts.as_slice() {
                    return self.sub(text, Some(vars));
                }
            }
            _ => {}
        }
        if let Some([Value::String(sep), Value::Array(parts)]) =
            value["Fn::Join"].as_array().map(Vec::as_slice)
        {
            let parts = parts
                .iter()
                .map(|p| self.string(p))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(parts.join(sep));
        }
        Err(IamError::Unresolved(value.to_string()))
    }

    fn reference(&self, name: &str) -> Result<String, IamError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.to_owned());
        }
        match name {
            "AWS::Region" => Ok(self.region.to_owned()),
            "AWS::AccountId" => Ok(LOCAL_ACCOUNT_ID.to_owned()),
            "AWS::Partition" => Ok("aws".to_owned()),
            "AWS::URLSuffix" => Ok("amazonaws.com".to_owned()),
            _ => Ok(self.provisioned.resolve(&EnvValue::Ref(name.to_owned()))?),
        }
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String, IamError> {
        Ok(self.provisioned.resolve(&EnvValue::GetAtt {
            logical_id: id.to_owned(),
            attribute: attribute.to_owned(),
        })?)
    }

    /// `${Name}`, `${Id.Attr}` and `${!Literal}` as `Fn::Sub` reads them.
    fn sub(
        &self,
        text: &str,
        vars: Option<&serde_json::Map<String, Value>>,
    ) -> Result<String, IamError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| IamError::Unresolved(text.to_owned()))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(bound) = vars.and_then(|v| v.get(name)) {
                out.push_str(&self.string(bound)?);
            } else if let Some((id, attr)) = name.split_once('.') {
                out.push_str(&self.attribute(id, attr)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
