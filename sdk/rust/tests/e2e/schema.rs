//! A small JSON Schema check against `infra/openapi.yaml`: `$ref`, `type`,
//! `properties`, `required`, `additionalProperties: false`, `items`,
//! `oneOf` / `anyOf`, `enum` and `const`: enough to hold every field name,
//! nullability and enum value of the SDK's bodies to the document (formats
//! and patterns are the server's business).

use serde_json::Value;
use std::sync::OnceLock;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("infra/openapi.yaml");
        serde_yaml_ng::from_str(&text).expect("the OpenAPI document parses")
    })
}

/// Panics with every mismatch when `value` does not fit the document's
/// `components/schemas/<name>`.
pub fn check(name: &str, value: &Value) {
    let schema = &document()["components"]["schemas"][name];
    assert!(!schema.is_null(), "no schema {name}");
    let mut errors = Vec::new();
    validate(schema, value, name, &mut errors);
    assert!(
        errors.is_empty(),
        "{name} does not fit the document:\n{}\nvalue: {value:#}",
        errors.join("\n")
    );
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
            resolve(&document()["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        other => panic!("unsupported type {other}"),
    }
}

fn validate(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let fits = branches.iter().any(|branch| {
                let mut inner = Vec::new();
                validate(branch, value, at, &mut inner);
                inner.is_empty()
            });
            if !fits {
                errors.push(format!("{at}: fits no branch of {key}"));
            }
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, value) => {
            errors.push(format!("{at}: not a {t}"));
            return;
        }
        Some(Value::Array(types))
            if !types
                .iter()
                .any(|t| type_matches(t.as_str().unwrap_or(""), value)) =>
        {
            errors.push(format!("{at}: none of {types:?}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        errors.push(format!("{at}: {value} is not {constant}"));
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            validate(items, item, &format!("{at}[{i}]"), errors);
        }
    }
    let Some(object) = value.as_object() else {
        return;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = required.as_str().unwrap_or_default();
        if !object.contains_key(field) {
            errors.push(format!("{at}: required {field} is missing"));
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (field, field_value) in object {
        match properties.and_then(|p| p.get(field)) {
            Some(field_schema) => {
                validate(field_schema, field_value, &format!("{at}.{field}"), errors)
            }
            None if closed => errors.push(format!("{at}: unknown field {field}")),
            None => {}
        }
    }
}

#[test]
fn the_check_catches_what_it_is_for() {
    use serde_json::json;
    let refuses = |name: &str, value: Value| {
        let result = std::panic::catch_unwind(|| check(name, &value));
        assert!(result.is_err(), "{name} took {value}");
    };
    refuses("RateLimit", json!({"name": "a", "limit": 1}));
    refuses(
        "RateLimit",
        json!({"name": "a", "limit": 1, "window_seconds": 1, "x": 1}),
    );
    refuses("Credits", json!({"remaining": "1"}));
    refuses("Refill", json!({"amount": 1, "interval": "weekly"}));
    refuses(
        "Leak",
        json!({"at": "t", "found_by": "x", "url": 3, "action": "revoke"}),
    );
    check(
        "Leak",
        &json!({"at": "t", "found_by": "x", "url": null, "action": "revoke"}),
    );
}
