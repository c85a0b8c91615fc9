//! `infra/template.yaml` against the code it deploys: the HTTP routes of
//! `keyward::http::routes()`, the Lambda binaries in `functions/src/bin`,
//! which routes the JWT authorizer guards, the table `DynamoStore` expects,
//! the configuration `Config` reads, and least-privilege IAM.
//!
//! The template is read as YAML; CloudFormation's short tags (`!Ref X`,
//! `!GetAtt A.B`, `!Sub s`, …) become their long forms (`{"Ref": "X"}`,
//! `{"Fn::GetAtt": "A.B"}`, `{"Fn::Sub": "s"}`), so checks compare JSON.

#[path = "support/moto.rs"]
mod moto;

/// The dead-letter queue, encryption and concurrency of the template.
#[path = "template_routes/hardening.rs"]
mod hardening;

use axum::http::Method;
use clap::Args;
use keyward::config::Config;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TEMPLATE: &str = "infra/template.yaml";
/// The functions that no HTTP route names.
const EVENT_FUNCTIONS: [&str; 2] = ["authorizer", "notify-expiring"];
/// Functions that only read the table (and, for the two verifiers, write
/// `last_used_at`).
const READ_ONLY: [&str; 9] = [
    "list-applications",
    "get-application",
    "list-keys",
    "get-key",
    "get-key-record",
    "verify-key",
    "authorizer",
    "list-notifications",
    "list-audit",
];
/// Actions no function may have.
const FORBIDDEN: [&str; 6] = [
    "dynamodb:*",
    "dynamodb:Scan",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteTable",
    "*",
];

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

/// `create-key` → `CreateKeyFunction`.
fn logical_id(binary: &str) -> String {
    let mut id: String = binary
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    id.push_str("Function");
    id
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

/// One HTTP API event of a function.
struct HttpEvent {
    function: String,
    event: String,
    method: String,
    path: String,
    /// `Auth.Authorizer`, when the event names one.
    authorizer: Option<String>,
    api: Value,
}

fn http_events(template: &Value) -> Vec<HttpEvent> {
    let mut events = Vec::new();
    for (binary, (id, resource)) in functions(template) {
        let Some(declared) = resource["Properties"]["Events"].as_object() else {
            continue;
        };
        for (event, declaration) in declared {
            if declaration["Type"] != "HttpApi" {
                continue;
            }
            let properties = &declaration["Properties"];
            let what = format!("{id}.Events.{event}");
            events.push(HttpEvent {
                function: binary.clone(),
                event: what.clone(),
                method: string(&properties["Method"], &format!("{what}.Method")).to_uppercase(),
                path: string(&properties["Path"], &format!("{what}.Path")).to_owned(),
                authorizer: properties["Auth"]["Authorizer"].as_str().map(str::to_owned),
                api: properties["ApiId"].clone(),
            });
        }
    }
    events
}

/// (method, path, function) of every route the template deploys.
type RouteKey = (String, String, String);

fn describe(set: &BTreeSet<&RouteKey>) -> String {
    set.iter()
        .map(|(m, p, f)| format!("\n  {m} {p} -> {f}"))
        .collect()
}

#[test]
fn http_events_are_the_route_table_without_healthz() {
    let template = template();
    let mut deployed: BTreeSet<RouteKey> = BTreeSet::new();
    for event in http_events(&template) {
        assert_eq!(
            event.api,
            json!({"Ref": "Api"}),
            "{TEMPLATE}: {} must attach to the keyward HTTP API (ApiId: !Ref Api), \
             not an implicit one",
            event.event
        );
        let key = (event.method, event.path, event.function);
        assert!(
            deployed.insert(key.clone()),
            "{TEMPLATE}: route {} {} is declared twice",
            key.0,
            key.1
        );
    }
    let routes = keyward::http::routes();
    let local_only = |r: &keyward::http::Route| r.method == Method::GET && r.path == "/healthz";
    assert!(
        routes.iter().any(local_only),
        "routes() no longer has GET /healthz: update this test and infra/README.md"
    );
    let expected: BTreeSet<RouteKey> = routes
        .iter()
        .filter(|r| !local_only(r))
        .map(|r| {
            (
                r.method.as_str().to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect();
    let missing: BTreeSet<&RouteKey> = expected.difference(&deployed).collect();
    let unknown: BTreeSet<&RouteKey> = deployed.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{TEMPLATE}'s HttpApi events differ from keyward::http::routes() (without GET /healthz).\
         \nIn routes() but not deployed:{}\nDeployed but not in routes():{}",
        describe(&missing),
        describe(&unknown)
    );
}

#[test]
fn every_binary_has_one_function_and_every_function_a_binary() {
    let template = template();
    let declared = functions(&template);
    let bin_dir = repo_root().join("functions/src/bin");
    let binaries: BTreeSet<String> = std::fs::read_dir(&bin_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", bin_dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 file name")
                .to_owned()
        })
        .collect();
    let in_template: BTreeSet<String> = declared.keys().cloned().collect();
    let no_function: Vec<&String> = binaries.difference(&in_template).collect();
    let no_binary: Vec<&String> = in_template.difference(&binaries).collect();
    assert!(
        no_function.is_empty() && no_binary.is_empty(),
        "functions/src/bin/*.rs and {TEMPLATE}'s functions differ.\
         \nBinaries without a function: {no_function:?}\
         \nFunctions without functions/src/bin/<name>.rs: {no_binary:?}"
    );

    // Every function a route names, plus the two event-driven ones.
    let mut named: BTreeSet<String> = keyward::http::routes()
        .iter()
        .filter(|r| r.path != "/healthz")
        .map(|r| r.function.to_owned())
        .collect();
    named.extend(EVENT_FUNCTIONS.iter().map(|f| f.to_string()));
    assert_eq!(
        in_template, named,
        "{TEMPLATE}: the functions must be those of routes() plus {EVENT_FUNCTIONS:?}"
    );

    for (binary, (id, resource)) in &declared {
        assert_eq!(
            *id,
            logical_id(binary),
            "{TEMPLATE}: the function building {binary} must be called {}",
            logical_id(binary)
        );
        assert_eq!(
            resource["Properties"]["CodeUri"], "..",
            "{TEMPLATE}: {id}'s CodeUri must be the Cargo workspace root (..), where \
             cargo-lambda leaves target/lambda/{binary}/bootstrap"
        );
        for property in ["Runtime", "Handler", "Architectures"] {
            assert!(
                resource["Properties"].get(property).is_none(),
                "{TEMPLATE}: {id} overrides Globals.Function.{property}"
            );
        }
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
}

#[test]
fn only_post_verify_skips_the_jwt_authorizer() {
    let template = template();
    let api = &resources(&template)["Api"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let auth = &api["Properties"]["Auth"];
    let default = string(&auth["DefaultAuthorizer"], "Api's Auth.DefaultAuthorizer");
    let jwt = &auth["Authorizers"][default];
    assert_eq!(
        jwt["IdentitySource"], "$request.header.Authorization",
        "{TEMPLATE}: the default authorizer {default} must read the Authorization header"
    );
    let config = object(
        &jwt["JwtConfiguration"],
        &format!("{default}.JwtConfiguration (the default authorizer must be a JWT authorizer)"),
    );
    assert_eq!(config["issuer"], json!({"Ref": "JwtIssuer"}));
    assert_eq!(config["audience"], json!([{"Ref": "JwtAudience"}]));

    let mut open = Vec::new();
    for event in http_events(&template) {
        let route = format!("{} {}", event.method, event.path);
        match event.authorizer.as_deref() {
            Some("NONE") => open.push(route),
            None => {}
            Some(name) => assert_eq!(
                name, default,
                "{TEMPLATE}: {route} ({}) must use the JWT authorizer {default}",
                event.event
            ),
        }
    }
    assert_eq!(
        open,
        ["POST /verify"],
        "{TEMPLATE}: POST /verify must be the one route without the JWT authorizer \
         (Auth: Authorizer: NONE); every management route needs a token"
    );
}

/// The names `functions/src/store/dynamodb/layout.rs` uses.
const PARTITION_KEY: &str = "pk";
const SORT_KEY: &str = "sk";
const INDEX: &str = "gsi1";
const INDEX_PARTITION_KEY: &str = "gsi1pk";
const INDEX_SORT_KEY: &str = "gsi1sk";
const TTL_ATTRIBUTE: &str = "ttl";
/// The one attribute besides the keys that gsi1 carries.
const INDEX_PROJECTED: &str = "item";

/// (attribute name, key type or attribute type).
type KeyPair = (String, String);
/// (index name, key schema, projection type, projected non-key attributes).
type IndexShape = (String, Vec<KeyPair>, String, Vec<String>);

fn key_schema(value: &Value, what: &str) -> Vec<KeyPair> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {what} is not a list"))
        .iter()
        .map(|k| {
            (
                string(&k["AttributeName"], what).to_owned(),
                string(&k["KeyType"], what).to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> KeyPair {
    (name.to_owned(), kind.to_owned())
}

#[test]
fn the_table_is_the_one_the_dynamodb_store_uses() {
    let template = template();
    let table = &resources(&template)["Table"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    let attributes: BTreeSet<KeyPair> =
        key_schema_like(&p["AttributeDefinitions"], "AttributeType");
    let expected: BTreeSet<KeyPair> =
        [PARTITION_KEY, SORT_KEY, INDEX_PARTITION_KEY, INDEX_SORT_KEY]
            .iter()
            .map(|name| pair(name, "S"))
            .collect();
    assert_eq!(
        attributes, expected,
        "{TEMPLATE}: AttributeDefinitions must be the four string key attributes of dynamodb/layout.rs"
    );
    assert_eq!(
        key_schema(&p["KeySchema"], "Table.KeySchema"),
        [pair(PARTITION_KEY, "HASH"), pair(SORT_KEY, "RANGE")],
        "{TEMPLATE}: the table's key must be pk (HASH), sk (RANGE)"
    );
    let indexes = p["GlobalSecondaryIndexes"]
        .as_array()
        .expect("Table.GlobalSecondaryIndexes is a list");
    assert_eq!(indexes.len(), 1, "{TEMPLATE}: the store uses one GSI");
    let gsi = &indexes[0];
    assert_eq!(gsi["IndexName"], INDEX);
    assert_eq!(
        key_schema(&gsi["KeySchema"], "gsi1.KeySchema"),
        [
            pair(INDEX_PARTITION_KEY, "HASH"),
            pair(INDEX_SORT_KEY, "RANGE")
        ]
    );
    assert_eq!(
        gsi["Projection"],
        json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": [INDEX_PROJECTED]}),
        "{TEMPLATE}: gsi1 must project the item's JSON body, which the store reads from it, \
         and nothing else (a last_used_at update must not write the index)"
    );
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": TTL_ATTRIBUTE, "Enabled": true})
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["DeletionProtectionEnabled"], true);

    // The constants above are the store's: its source names them so.
    let source = include_str!("../src/store/dynamodb/layout.rs");
    for needle in [
        format!("const GSI: &str = \"{INDEX}\""),
        format!("key(\"{PARTITION_KEY}\", KeyType::Hash)"),
        format!("key(\"{SORT_KEY}\", KeyType::Range)"),
        format!("key(\"{INDEX_PARTITION_KEY}\", KeyType::Hash)"),
        format!("key(\"{INDEX_SORT_KEY}\", KeyType::Range)"),
        format!(".attribute_name(\"{TTL_ATTRIBUTE}\")"),
        "ProjectionType::Include".to_owned(),
        format!(".non_key_attributes(\"{INDEX_PROJECTED}\")"),
    ] {
        assert!(
            source.contains(&needle),
            "functions/src/store/dynamodb/layout.rs no longer contains `{needle}`: \
             update {TEMPLATE}'s table and this test"
        );
    }
}

/// `[{AttributeName, <field>}]` as a set of pairs.
fn key_schema_like(value: &Value, field: &str) -> BTreeSet<KeyPair> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: a key list is not a list: {value}"))
        .iter()
        .map(|a| {
            (
                string(&a["AttributeName"], "AttributeName").to_owned(),
                string(&a[field], field).to_owned(),
            )
        })
        .collect()
}

/// With a DynamoDB-compatible server (tests/run.sh starts moto_server), the
/// table `DynamoStore::create_table` makes is described and compared with
/// the template's.
#[tokio::test]
async fn create_table_makes_the_template_table() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("a table description");
    let made_keys: Vec<KeyPair> = described
        .key_schema()
        .iter()
        .map(|k| pair(k.attribute_name(), k.key_type().as_str()))
        .collect();
    let made_attributes: BTreeSet<KeyPair> = described
        .attribute_definitions()
        .iter()
        .map(|a| pair(a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let made_indexes: Vec<IndexShape> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap_or_default().to_owned(),
                i.key_schema()
                    .iter()
                    .map(|k| pair(k.attribute_name(), k.key_type().as_str()))
                    .collect(),
                i.projection()
                    .and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                i.projection()
                    .map(|p| p.non_key_attributes().to_vec())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTimeToLive")
        .time_to_live_description
        .and_then(|d| d.attribute_name)
        .unwrap_or_default();

    let template = template();
    let p = &resources(&template)["Table"]["Properties"];
    assert_eq!(made_keys, key_schema(&p["KeySchema"], "Table.KeySchema"));
    assert_eq!(
        made_attributes,
        key_schema_like(&p["AttributeDefinitions"], "AttributeType")
    );
    let gsi = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(
        made_indexes,
        [(
            string(&gsi["IndexName"], "IndexName").to_owned(),
            key_schema(&gsi["KeySchema"], "gsi1.KeySchema"),
            string(&gsi["Projection"]["ProjectionType"], "ProjectionType").to_owned(),
            gsi["Projection"]["NonKeyAttributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| string(a, "NonKeyAttributes").to_owned())
                .collect(),
        )],
        "DynamoStore::create_table and {TEMPLATE} make different indexes"
    );
    assert_eq!(ttl, p["TimeToLiveSpecification"]["AttributeName"]);
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

#[test]
fn policies_are_least_privilege() {
    let template = template();
    let table_arn = json!({"Fn::GetAtt": "Table.Arn"});
    let index_arn = json!({"Fn::Sub": format!("${{Table.Arn}}/index/{INDEX}")});
    for (binary, (id, resource)) in functions(&template) {
        let statements = statements(&id, &resource);
        let mut granted = BTreeSet::new();
        for statement in &statements {
            for action in actions(statement) {
                assert!(
                    !FORBIDDEN.contains(&action.as_str()),
                    "{TEMPLATE}: {id} must not have {action}"
                );
                assert!(
                    action != "dynamodb:TransactWriteItems",
                    "{TEMPLATE}: {id}: IAM has no dynamodb:TransactWriteItems action; a \
                     transaction needs the actions it contains (PutItem, UpdateItem, …)"
                );
                for target in strings(&statement["Resource"]) {
                    if action.starts_with("dynamodb:") {
                        assert!(
                            target == table_arn || target == index_arn,
                            "{TEMPLATE}: {id} gets {action} on {target}: only the table \
                             (!GetAtt Table.Arn) or its index (!Sub ${{Table.Arn}}/index/{INDEX})"
                        );
                    } else if action.starts_with("kms:") {
                        assert!(
                            target == json!({"Ref": "TopicKmsKeyArn"}),
                            "{TEMPLATE}: {id} gets {action} on {target}: only the topic's key"
                        );
                    } else {
                        assert!(
                            target == json!({"Ref": "Topic"}),
                            "{TEMPLATE}: {id} gets {action} on {target}: only the topic"
                        );
                    }
                }
                granted.insert(action);
            }
        }
        if READ_ONLY.contains(&binary.as_str()) {
            for write in [
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:TransactWriteItems",
            ] {
                assert!(
                    !granted.contains(write),
                    "{TEMPLATE}: {id} only reads, yet may {write}"
                );
            }
        }
        let writes_usage = binary == "verify-key" || binary == "authorizer";
        for statement in &statements {
            let granted_here = actions(statement);
            let writes = |a: &str| granted_here.iter().any(|g| g == a);
            if writes_usage && writes("dynamodb:UpdateItem") {
                // Their one write: last_used_at on key items, off the
                // answer's path.
                let condition = &statement["Condition"];
                assert_eq!(
                    condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
                    json!(["KEY#*"]),
                    "{TEMPLATE}: {id} may update key items only"
                );
                let attributes: BTreeSet<String> =
                    strings(&condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])
                        .iter()
                        .map(|a| string(a, "a dynamodb:Attributes value").to_owned())
                        .collect();
                let expected: BTreeSet<String> = [
                    PARTITION_KEY,
                    SORT_KEY,
                    INDEX_PARTITION_KEY,
                    INDEX_SORT_KEY,
                    "last_used_at",
                ]
                .iter()
                .map(|a| a.to_string())
                .collect();
                assert_eq!(
                    attributes, expected,
                    "{TEMPLATE}: {id} may write last_used_at only (the key attributes must be \
                     listed too)"
                );
            } else if writes("dynamodb:UpdateItem") || writes("dynamodb:PutItem") {
                assert!(
                    !READ_ONLY.contains(&binary.as_str()),
                    "{TEMPLATE}: {id} only reads, yet may write: {statement}"
                );
                assert_eq!(
                    statement["Condition"]["ForAnyValue:StringEquals"]["dynamodb:EnclosingOperation"],
                    json!(["TransactWriteItems"]),
                    "{TEMPLATE}: {id} writes only in transactions; grant its writes only there"
                );
            }
        }
        let publishes = granted.contains("sns:Publish");
        assert_eq!(
            publishes,
            binary == "notify-expiring",
            "{TEMPLATE}: only notify-expiring publishes to the topic ({id})"
        );
    }
}

#[test]
fn functions_get_the_configuration_the_code_reads() {
    let template = template();
    let parameters = object(&template["Parameters"], "Parameters");
    let globals = object(
        &template["Globals"]["Function"]["Environment"]["Variables"],
        "Globals.Function.Environment.Variables",
    );
    assert_eq!(globals["KEYWARD_TABLE"], json!({"Ref": "Table"}));

    // Every KEYWARD_* variable of Config, from a parameter whose default is
    // the code's default.
    let command = Config::augment_args(clap::Command::new("keyward"));
    let mut variables = 0;
    for arg in command.get_arguments() {
        let Some(variable) = arg.get_env().and_then(|v| v.to_str()) else {
            continue;
        };
        variables += 1;
        let value = globals.get(variable).unwrap_or_else(|| {
            panic!("{TEMPLATE}: Globals.Function.Environment.Variables lacks {variable}")
        });
        let parameter = string(&value["Ref"], &format!("{variable}'s value (a !Ref)"));
        let declared = parameters
            .get(parameter)
            .unwrap_or_else(|| panic!("{TEMPLATE}: no parameter {parameter} for {variable}"));
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let in_template = match &declared["Default"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(
            [in_template],
            default.as_slice(),
            "{TEMPLATE}: parameter {parameter} ({variable}) must default to the code's default"
        );
    }
    assert!(
        variables >= 8,
        "Config has fewer KEYWARD_* variables than expected"
    );

    let declared = functions(&template);
    let own = |binary: &str| -> Map<String, Value> {
        declared[binary].1["Properties"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    for binary in declared.keys() {
        let variables = own(binary);
        assert_eq!(
            variables.contains_key("KEYWARD_TOPIC_ARN"),
            binary == "notify-expiring",
            "{TEMPLATE}: KEYWARD_TOPIC_ARN belongs to notify-expiring only ({binary})"
        );
        assert_eq!(
            variables.contains_key("KEYWARD_AUTHORIZER_SCOPES"),
            binary == "authorizer",
            "{TEMPLATE}: KEYWARD_AUTHORIZER_SCOPES belongs to the authorizer only ({binary})"
        );
    }
    assert_eq!(
        own("notify-expiring")["KEYWARD_TOPIC_ARN"],
        json!({"Ref": "Topic"})
    );
    assert_eq!(
        parameters["AuthorizerScopes"]["Default"], "{}",
        "{TEMPLATE}: the authorizer requires no scope unless told"
    );

    // The daily schedule.
    let events = object(
        &declared["notify-expiring"].1["Properties"]["Events"],
        "NotifyExpiringFunction.Events",
    );
    assert!(
        events
            .values()
            .any(|e| e["Type"] == "ScheduleV2" || e["Type"] == "Schedule"),
        "{TEMPLATE}: notify-expiring needs its daily EventBridge schedule"
    );
}
