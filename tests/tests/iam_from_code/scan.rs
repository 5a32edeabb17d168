//! What a function's code can ask AWS to do, read from its Rust sources.
//!
//! Sources are parsed with `syn` (test modules left out). Every fn and method becomes a node with
//! the names it calls, the enum variants it builds and the SDK operations it sends through a
//! struct field typed `aws_sdk_<service>::Client`. Starting from every fn of the function's
//! crate, calls are followed by name through the crate and `shared` (a method call reaches every
//! method of that name: more than runs, never less). An adapter counts only where reachable code
//! builds it (`Adapter::new(client, &config.field)`), which also names the resource: the config
//! field's environment variable, which the template points at a resource.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use syn::visit::{self, Visit};
use syn::{Expr, ExprCall, ExprMethodCall, ExprPath, ExprStruct, Fields, Item, Pat, Type};

/// One IAM grant as the code needs it: `dynamodb:Query` on `StateTable/index/due-index`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: String,
    /// The environment variable that names the resource, plus a suffix such as `/index/due-index`.
    pub env: String,
    pub suffix: String,
    /// Where the call is, for the failure message: `DynamoStore::commit`.
    pub site: String,
}

/// An SDK request sent by a method: `self.<field>.<op>()…`.
#[derive(Debug, Clone)]
struct SdkCall {
    field: String,
    op: String,
    index: Option<String>,
}

/// A `TransactWriteItem` kind (`put`, `delete`, …), and the enum variants guarding it, if any.
#[derive(Debug, Clone)]
struct TransactKind {
    kind: String,
    guards: Vec<String>,
}

/// `Adapter::new(…, &config.field)` in the function's crate.
#[derive(Debug, Clone)]
struct Construct {
    adapter: String,
    fields: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct Node {
    owner: Option<String>,
    trait_: Option<String>,
    name: String,
    in_function_crate: bool,
    methods: BTreeSet<String>,
    paths: BTreeSet<(Option<String>, String)>,
    variants: BTreeSet<String>,
    sdk: Vec<SdkCall>,
    transact: Vec<TransactKind>,
    constructs: Vec<Construct>,
}

/// Everything read from the sources of one function plus `shared`.
#[derive(Debug, Default)]
pub struct Sources {
    nodes: Vec<Node>,
    /// struct name -> (field -> service), for fields typed `aws_sdk_<service>::Client`.
    clients: BTreeMap<String, BTreeMap<String, String>>,
    /// `const NAME: &str = "value"`.
    consts: BTreeMap<String, String>,
    /// config struct field -> environment variables (`table_name: env.required("TABLE_NAME")`),
    /// in the function's crate and in `shared`.
    env_fields: BTreeMap<String, BTreeSet<String>>,
    shared_env_fields: BTreeMap<String, BTreeSet<String>>,
}

impl Sources {
    /// Parses every `.rs` file under the function crate's `src` and under `shared/src`.
    pub fn load(function_src: &Path, shared_src: &Path) -> Result<Self, String> {
        let mut sources = Sources::default();
        for (dir, own) in [(function_src, true), (shared_src, false)] {
            for file in rust_files(dir)? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                sources
                    .add(&text, own)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
            }
        }
        Ok(sources)
    }

    /// Adds one file's items; `own` marks the function's crate (its fns are the entry points).
    pub fn add(&mut self, text: &str, own: bool) -> Result<(), String> {
        let file = syn::parse_file(text).map_err(|e| e.to_string())?;
        let mut v = FileVisitor {
            sources: self,
            own,
            owner: None,
            trait_: None,
            node: None,
            guards: Vec::new(),
            error: None,
        };
        v.visit_file(&file);
        match v.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The grants the function's code needs, each with the environment variable naming its
    /// resource. Errors name what the scan cannot map (an adapter built without a config field,
    /// an SDK call on an unknown service).
    pub fn needs(&self) -> Result<BTreeSet<Need>, String> {
        let reachable = self.reachable();
        let built: BTreeSet<String> = reachable
            .iter()
            .flat_map(|&i| self.nodes[i].variants.iter().cloned())
            .collect();
        let mut needs = BTreeSet::new();
        for construct in reachable
            .iter()
            .flat_map(|&i| self.nodes[i].constructs.iter())
        {
            let Some(fields) = self.clients.get(&construct.adapter) else {
                continue; // not an AWS adapter
            };
            let env = self.env_of(construct)?;
            let methods = reachable
                .iter()
                .map(|&i| &self.nodes[i])
                .filter(|n| n.owner.as_deref() == Some(construct.adapter.as_str()));
            let kinds: BTreeSet<String> = methods
                .clone()
                .flat_map(|n| n.transact.iter())
                .filter(|k| k.guards.is_empty() || k.guards.iter().any(|g| built.contains(g)))
                .map(|k| k.kind.clone())
                .collect();
            for node in methods {
                for call in &node.sdk {
                    let Some(service) = fields.get(&call.field) else {
                        continue;
                    };
                    let suffix = match &call.index {
                        Some(index) => format!(
                            "/index/{}",
                            self.consts
                                .get(index)
                                .cloned()
                                .unwrap_or_else(|| index.clone())
                        ),
                        None => String::new(),
                    };
                    for action in actions(service, &call.op, &kinds)? {
                        // S3 object actions are on the bucket's objects (`<bucket ARN>/*`).
                        let suffix = if service == "s3" && action != "s3:ListBucket" {
                            "/*".to_owned()
                        } else {
                            suffix.clone()
                        };
                        needs.insert(Need {
                            action,
                            env: env.clone(),
                            suffix,
                            site: format!("{}::{}", construct.adapter, node.name),
                        });
                    }
                }
            }
        }
        Ok(needs)
    }

    /// The environment variable naming an adapter's resource: the one its config-field argument
    /// is read from, in the function's crate first, else in `shared`.
    fn env_of(&self, construct: &Construct) -> Result<String, String> {
        let vars = construct.fields.iter().find_map(|f| {
            [&self.env_fields, &self.shared_env_fields]
                .into_iter()
                .find_map(|map| map.get(f))
        });
        match vars.map(|v| v.iter().collect::<Vec<_>>()).as_deref() {
            Some([one]) => Ok((*one).clone()),
            Some(many) => Err(format!(
                "{}::new is given a config field read from several variables: {many:?}",
                construct.adapter
            )),
            None => Err(format!(
                "{}::new is given no config field read from the environment ({:?}), \
                 so its resource cannot be named",
                construct.adapter, construct.fields
            )),
        }
    }

    /// Indices of the nodes reachable from the function crate's fns, following calls by name.
    fn reachable(&self) -> BTreeSet<usize> {
        let mut seen: BTreeSet<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].in_function_crate)
            .collect();
        let mut queue: Vec<usize> = seen.iter().copied().collect();
        while let Some(i) = queue.pop() {
            let from = &self.nodes[i];
            for (j, to) in self.nodes.iter().enumerate() {
                if seen.contains(&j) {
                    continue;
                }
                let by_method = to.owner.is_some() && from.methods.contains(&to.name);
                let by_path = from.paths.iter().any(|(q, name)| {
                    *name == to.name
                        && match q {
                            None => to.owner.is_none(),
                            Some(q) if q == "Self" => to.owner == from.owner,
                            Some(q) => {
                                to.owner.is_none()
                                    || to.owner.as_ref() == Some(q)
                                    || to.trait_.as_ref() == Some(q)
                            }
                        }
                });
                if by_method || by_path {
                    seen.insert(j);
                    queue.push(j);
                }
            }
        }
        seen
    }
}

/// IAM actions for one SDK operation. Batch and transaction requests are authorised per item
/// kind, so they map to the actions of what they carry.
pub fn actions(service: &str, op: &str, kinds: &BTreeSet<String>) -> Result<Vec<String>, String> {
    let prefix = match service {
        "dynamodb" | "sqs" | "secretsmanager" | "sns" | "s3" | "cloudwatch" => service,
        other => {
            return Err(format!(
                "no IAM prefix known for the SDK crate aws_sdk_{other}"
            ))
        }
    };
    let names: Vec<String> = match (service, op) {
        ("dynamodb", "transact_write_items") => {
            if kinds.is_empty() {
                return Err("transact_write_items with no TransactWriteItem kind in reach".into());
            }
            kinds
                .iter()
                .map(|k| match k.as_str() {
                    "put" => Ok("PutItem".to_owned()),
                    "update" => Ok("UpdateItem".to_owned()),
                    "delete" => Ok("DeleteItem".to_owned()),
                    "condition_check" => Ok("ConditionCheckItem".to_owned()),
                    other => Err(format!("unknown TransactWriteItem kind {other}")),
                })
                .collect::<Result<_, _>>()?
        }
        ("dynamodb", "transact_get_items") => vec!["GetItem".to_owned()],
        ("sqs", op) if op.ends_with("_batch") => vec![pascal(op.trim_end_matches("_batch"))],
        // S3 authorises listing on the bucket and a multi-object delete per object.
        ("s3", "list_objects_v2" | "list_objects") => vec!["ListBucket".to_owned()],
        ("s3", "delete_objects") => vec!["DeleteObject".to_owned()],
        ("s3", "head_object") => vec!["GetObject".to_owned()],
        (_, op) => vec![pascal(op)],
    };
    Ok(names.into_iter().map(|n| format!("{prefix}:{n}")).collect())
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn rust_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

struct FileVisitor<'a> {
    sources: &'a mut Sources,
    own: bool,
    owner: Option<String>,
    trait_: Option<String>,
    node: Option<Node>,
    /// Enum variants named by the patterns of the enclosing match arms / `if let`s.
    guards: Vec<Vec<String>>,
    error: Option<String>,
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let path = a.path();
        path.is_ident("test")
            || (path.is_ident("cfg")
                && a.parse_args::<syn::Meta>()
                    .is_ok_and(|m| m.path().is_ident("test")))
    })
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// `aws_sdk_dynamodb::Client` -> `dynamodb`.
fn sdk_service(ty: &Type) -> Option<String> {
    let Type::Path(p) = ty else { return None };
    let segs: Vec<String> = p
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segs.as_slice() {
        [krate, client] if client == "Client" => krate.strip_prefix("aws_sdk_").map(str::to_owned),
        _ => None,
    }
}

/// `Enum::Variant` names in a pattern (all alternatives), or nothing if any alternative is not
/// a variant (then the arm is not guarded).
fn pattern_variants(pat: &Pat) -> Vec<String> {
    fn path_variant(path: &syn::Path) -> Option<String> {
        let n = path.segments.len();
        (n >= 2).then(|| {
            format!(
                "{}::{}",
                path.segments[n - 2].ident,
                path.segments[n - 1].ident
            )
        })
    }
    match pat {
        Pat::Or(or) => {
            let all: Vec<Vec<String>> = or.cases.iter().map(pattern_variants).collect();
            if all.iter().any(Vec::is_empty) {
                Vec::new()
            } else {
                all.into_iter().flatten().collect()
            }
        }
        Pat::TupleStruct(p) => path_variant(&p.path).into_iter().collect(),
        Pat::Struct(p) => path_variant(&p.path).into_iter().collect(),
        Pat::Path(p) => path_variant(&p.path).into_iter().collect(),
        Pat::Reference(r) => pattern_variants(&r.pat),
        Pat::Paren(p) => pattern_variants(&p.pat),
        _ => Vec::new(),
    }
}

impl FileVisitor<'_> {
    fn record_path(&mut self, path: &syn::Path) {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let Some(node) = self.node.as_mut() else {
            return;
        };
        if let Some(name) = segs.last() {
            let qualifier = segs.len().checked_sub(2).map(|i| segs[i].clone());
            if let Some(q) = &qualifier {
                node.variants.insert(format!("{q}::{name}"));
            }
            node.paths.insert((qualifier, name.clone()));
        }
    }

    fn finish_fn(&mut self, name: String, body: impl FnOnce(&mut Self)) {
        let outer = self.node.take();
        self.node = Some(Node {
            owner: self.owner.clone(),
            trait_: self.trait_.clone(),
            name,
            in_function_crate: self.own,
            ..Node::default()
        });
        body(self);
        if let Some(node) = self.node.take() {
            self.sources.nodes.push(node);
        }
        self.node = outer;
    }
}

impl<'ast> Visit<'ast> for FileVisitor<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        let attrs = match item {
            Item::Mod(m) => &m.attrs,
            Item::Fn(f) => &f.attrs,
            Item::Impl(i) => &i.attrs,
            _ => return visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        if let Fields::Named(named) = &s.fields {
            let clients: BTreeMap<String, String> = named
                .named
                .iter()
                .filter_map(|f| Some((f.ident.as_ref()?.to_string(), sdk_service(&f.ty)?)))
                .collect();
            if !clients.is_empty() {
                let name = s.ident.to_string();
                if self.sources.clients.insert(name.clone(), clients).is_some() {
                    self.error = Some(format!("two AWS adapters are named {name}"));
                }
            }
        }
    }

    fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
        if let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) = &*c.expr
        {
            self.sources.consts.insert(c.ident.to_string(), s.value());
        }
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let (owner, trait_) = (self.owner.take(), self.trait_.take());
        self.owner = last_ident(&i.self_ty);
        self.trait_ = i
            .trait_
            .as_ref()
            .and_then(|(_, p, _)| p.segments.last().map(|s| s.ident.to_string()));
        for item in &i.items {
            if let syn::ImplItem::Fn(f) = item {
                if !is_test_only(&f.attrs) {
                    self.finish_fn(f.sig.ident.to_string(), |v| v.visit_block(&f.block));
                }
            }
        }
        (self.owner, self.trait_) = (owner, trait_);
    }

    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        let owner = self.owner.replace(t.ident.to_string());
        for item in &t.items {
            if let syn::TraitItem::Fn(f) = item {
                if let Some(block) = &f.default {
                    self.finish_fn(f.sig.ident.to_string(), |v| v.visit_block(block));
                }
            }
        }
        self.owner = owner;
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.finish_fn(f.sig.ident.to_string(), |v| v.visit_block(&f.block));
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.guards.push(pattern_variants(&arm.pat));
        visit::visit_arm(self, arm);
        self.guards.pop();
    }

    fn visit_expr_if(&mut self, e: &'ast syn::ExprIf) {
        if let Expr::Let(l) = &*e.cond {
            self.visit_expr(&l.expr);
            self.guards.push(pattern_variants(&l.pat));
            self.visit_block(&e.then_branch);
            self.guards.pop();
            if let Some((_, other)) = &e.else_branch {
                self.visit_expr(other);
            }
        } else {
            visit::visit_expr_if(self, e);
        }
    }

    fn visit_expr_method_call(&mut self, m: &'ast ExprMethodCall) {
        // Flatten `base.a(..).b(..)…` so one chain is read once, from its base.
        let mut chain = vec![m];
        let mut base = &*m.receiver;
        while let Expr::MethodCall(inner) = base {
            chain.push(inner);
            base = &*inner.receiver;
        }
        chain.reverse();
        let guard = self.guards.iter().rev().find(|g| !g.is_empty()).cloned();
        if let Some(node) = self.node.as_mut() {
            for link in &chain {
                node.methods.insert(link.method.to_string());
            }
            // self.<field>.<op>()…  — an SDK request if <field> is a client.
            if let Expr::Field(f) = base {
                if matches!(&*f.base, Expr::Path(p) if p.path.is_ident("self")) {
                    if let (syn::Member::Named(field), Some(op)) = (&f.member, chain.first()) {
                        let index = chain
                            .iter()
                            .find(|l| l.method == "index_name")
                            .and_then(|l| l.args.first())
                            .and_then(|a| match a {
                                Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                                Expr::Lit(syn::ExprLit {
                                    lit: syn::Lit::Str(s),
                                    ..
                                }) => Some(s.value()),
                                _ => None,
                            });
                        node.sdk.push(SdkCall {
                            field: field.to_string(),
                            op: op.method.to_string(),
                            index,
                        });
                    }
                }
            }
            // TransactWriteItem::builder().put(..) — what a transaction carries.
            if let Expr::Call(c) = base {
                if let Expr::Path(p) = &*c.func {
                    let segs: Vec<String> = p
                        .path
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect();
                    if segs.ends_with(&["TransactWriteItem".to_owned(), "builder".to_owned()]) {
                        for link in &chain {
                            if link.method != "build" {
                                node.transact.push(TransactKind {
                                    kind: link.method.to_string(),
                                    guards: guard.clone().unwrap_or_default(),
                                });
                            }
                        }
                    }
                }
            }
        }
        self.visit_expr(base);
        for link in &chain {
            for arg in &link.args {
                self.visit_expr(arg);
            }
        }
    }

    fn visit_expr_call(&mut self, c: &'ast ExprCall) {
        if let Expr::Path(p) = &*c.func {
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if let [.., adapter, new] = segs.as_slice() {
                if new == "new" {
                    let fields = c.args.iter().filter_map(config_field).collect();
                    if let Some(node) = self.node.as_mut() {
                        node.constructs.push(Construct {
                            adapter: adapter.clone(),
                            fields,
                        });
                    }
                }
            }
        }
        visit::visit_expr_call(self, c);
    }

    /// Macro arguments that parse as expressions (`tokio::join!(a.f(), b.g())`, `format!`)
    /// are read like code; others (`select!`) are not, so calls are kept out of them.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        use syn::parse::Parser;
        let args = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated
            .parse2(m.tokens.clone());
        if let Ok(args) = args {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }

    fn visit_expr_path(&mut self, p: &'ast ExprPath) {
        self.record_path(&p.path);
    }

    fn visit_expr_struct(&mut self, s: &'ast ExprStruct) {
        self.record_path(&s.path);
        // `field: env.required("NAME")?` in a config constructor.
        for f in &s.fields {
            if let (syn::Member::Named(name), Some(var)) = (&f.member, env_var(&f.expr)) {
                let map = if self.own {
                    &mut self.sources.env_fields
                } else {
                    &mut self.sources.shared_env_fields
                };
                map.entry(name.to_string()).or_default().insert(var);
            }
        }
        visit::visit_expr_struct(self, s);
    }
}

/// `field` in `&config.field`, `config.field.clone()`, `config.field.as_str()` and the like.
fn config_field(e: &Expr) -> Option<String> {
    match e {
        Expr::Reference(r) => config_field(&r.expr),
        Expr::Paren(p) => config_field(&p.expr),
        Expr::MethodCall(m) if m.args.is_empty() => config_field(&m.receiver),
        Expr::Field(f) => match &f.member {
            syn::Member::Named(n) => Some(n.to_string()),
            syn::Member::Unnamed(_) => None,
        },
        _ => None,
    }
}

/// The variable name in `env.<getter>("NAME", …)`, through `?`, `.max(…)` and the like.
fn env_var(e: &Expr) -> Option<String> {
    match e {
        Expr::Try(t) => env_var(&t.expr),
        Expr::MethodCall(m) => {
            if matches!(&*m.receiver, Expr::Path(p) if p.path.is_ident("env")) {
                match m.args.first()? {
                    Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => Some(s.value()),
                    _ => None,
                }
            } else {
                env_var(&m.receiver)
            }
        }
        _ => None,
    }
}
