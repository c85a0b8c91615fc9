//! `infra/template.yaml` against the code it deploys: the HTTP routes of
//! `keyward::http::routes()`, the Lambda binaries in `functions/src/bin`,
//! which routes the JWT authorizer guards, the table `DynamoStore` expects,
//! the configuration `Config` reads, least-privilege IAM, and events out.
//!
//! The template is read as YAML; CloudFormation's short tags (`!Ref X`,
//! `!GetAtt A.B`, `!Sub s`, …) become their long forms (`{"Ref": "X"}`,
//! `{"Fn::GetAtt": "A.B"}`, `{"Fn::Sub": "s"}`), so checks compare JSON.
//!
//! The reading of the template is here; the checks are in one module per
//! concern (`routes`, `table`, `policies`, `configuration`, `hardening`,
//! `events_out`).

#[path = "../support/moto.rs"]
mod moto;

mod configuration;
/// The stream, its event source mapping, the bus and the retry schedule.
mod events_out;
/// The dead-letter queues, encryption and concurrency of the template.
mod hardening;
mod policies;
mod routes;
mod table;

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TEMPLATE: &str = "infra/template.yaml";

/// The names `functions/src/store/dynamodb/layout.rs` uses.
const PARTITION_KEY: &str = "pk";
const SORT_KEY: &str = "sk";
const INDEX: &str = "gsi1";
const INDEX_PARTITION_KEY: &str = "gsi1pk";
const INDEX_SORT_KEY: &str = "gsi1sk";
const TTL_ATTRIBUTE: &str = "ttl";
/// The one attribute besides the keys that gsi1 carries.
const INDEX_PROJECTED: &str = "item";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("functions/ has a parent")
        .to_path_buf()
}

/// A YAML value as JSON, short tags in their long forms.
fn to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let Y::String(key) = k else {
                        panic!("{TEMPLATE}: a mapping key is not a string: {k:?}")
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            json!({ long: to_json(tagged.value) })
        }
    }
}

fn template() -> Value {
    let path = repo_root().join(TEMPLATE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{TEMPLATE} is not valid YAML: {e}"));
    to_json(yaml)
}

fn object<'a>(value: &'a Value, what: &str) -> &'a Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {what} is not a mapping: {value}"))
}

fn string<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {what} is not a string: {value}"))
}

/// A string or a list of strings (IAM `Action`, `Resource`).
fn strings(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn resources(template: &Value) -> &Map<String, Value> {
    object(&template["Resources"], "Resources")
}

/// Every `AWS::Serverless::Function`, by its binary (`BuildProperties:
/// Binary`), with its logical id.
fn functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    let mut found = BTreeMap::new();
    for (id, resource) in resources(template) {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{TEMPLATE}: {id} must be built with Metadata: BuildMethod: rust-cargolambda"
        );
        let binary = string(
            &resource["Metadata"]["BuildProperties"]["Binary"],
            &format!("{id}'s Metadata.BuildProperties.Binary"),
        );
        let previous = found.insert(binary.to_owned(), (id.clone(), resource.clone()));
        assert!(
            previous.is_none(),
            "{TEMPLATE}: binary {binary} is built by two functions"
        );
    }
    found
}

/// The items a list entry stands for: itself, or for `!If [condition, a,
/// b]` each branch that is not `!Ref AWS::NoValue`.
fn conditional_items(entry: &Value) -> Vec<Value> {
    let Some(branches) = entry.get("Fn::If") else {
        return vec![entry.clone()];
    };
    let branches = branches
        .as_array()
        .filter(|b| b.len() == 3)
        .unwrap_or_else(|| panic!("{TEMPLATE}: !If takes a condition and two values: {entry}"));
    branches[1..]
        .iter()
        .filter(|b| **b != json!({"Ref": "AWS::NoValue"}))
        .flat_map(conditional_items)
        .collect()
}

/// Every `Allow` statement of a function's inline policies (both branches
/// of a conditional one).
fn statements(id: &str, resource: &Value) -> Vec<Value> {
    let policies = resource["Properties"]["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {id} has no inline Policies"));
    let mut found = Vec::new();
    for policy in policies {
        let list = policy["Statement"].as_array().unwrap_or_else(|| {
            panic!(
                "{TEMPLATE}: {id}'s policies must be inline statements, not managed policies \
                 or SAM policy templates: {policy}"
            )
        });
        for statement in list.iter().flat_map(conditional_items) {
            assert_eq!(
                statement["Effect"], "Allow",
                "{TEMPLATE}: {id}: {statement}"
            );
            found.push(statement);
        }
    }
    found
}

fn actions(statement: &Value) -> Vec<String> {
    strings(&statement["Action"])
        .iter()
        .map(|a| string(a, "an IAM action").to_owned())
        .collect()
}
