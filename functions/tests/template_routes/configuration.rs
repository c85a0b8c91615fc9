//! The configuration the functions get against what `Config` reads.

use super::*;
use clap::Args;
use keyward::config::Config;

/// Variables of `Config` for development and tests only, which no deployed
/// function may get: `KEYWARD_WEBHOOK_ALLOW_INSECURE` lets webhooks use
/// `http` and loopback addresses.
const NOT_DEPLOYED: [&str; 1] = ["KEYWARD_WEBHOOK_ALLOW_INSECURE"];
/// The functions that get the webhook sealing key: the one that seals new
/// signing secrets and the two that open them to sign deliveries.
const SEALING_KEY_HOLDERS: [&str; 3] = ["create-webhook", "deliver-events", "retry-deliveries"];

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
    // the code's default; none of the development-only ones.
    let command = Config::augment_args(clap::Command::new("keyward"));
    let mut variables = 0;
    for arg in command.get_arguments() {
        let Some(variable) = arg.get_env().and_then(|v| v.to_str()) else {
            continue;
        };
        variables += 1;
        if NOT_DEPLOYED.contains(&variable) {
            assert!(
                !globals.contains_key(variable),
                "{TEMPLATE}: {variable} is for development only; no deployed function may get it"
            );
            continue;
        }
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
        assert_eq!(
            variables.contains_key("KEYWARD_EVENT_BUS"),
            binary == "deliver-events",
            "{TEMPLATE}: KEYWARD_EVENT_BUS belongs to deliver-events only ({binary})"
        );
        assert_eq!(
            variables.contains_key("KEYWARD_WEBHOOK_SEALING_KEY"),
            SEALING_KEY_HOLDERS.contains(&binary.as_str()),
            "{TEMPLATE}: KEYWARD_WEBHOOK_SEALING_KEY belongs to {SEALING_KEY_HOLDERS:?} only, \
             which seal or open signing secrets ({binary})"
        );
        if let Some(value) = variables.get("KEYWARD_WEBHOOK_SEALING_KEY") {
            assert_eq!(*value, json!({"Ref": "WebhookSealingKey"}), "{binary}");
        }
        for variable in NOT_DEPLOYED {
            assert!(
                !variables.contains_key(variable),
                "{TEMPLATE}: {variable} is for development only ({binary})"
            );
        }
    }
    assert!(
        own("create-webhook").contains_key("KEYWARD_WEBHOOK_SEALING_KEY"),
        "{TEMPLATE}: create-webhook does not start without the sealing key"
    );
    let sealing = &parameters["WebhookSealingKey"];
    assert_eq!(
        sealing["NoEcho"], true,
        "{TEMPLATE}: WebhookSealingKey is a secret: NoEcho"
    );
    assert!(
        sealing.get("Default").is_none(),
        "{TEMPLATE}: WebhookSealingKey has no default; each stack needs its own key"
    );
    assert_eq!(
        own("notify-expiring")["KEYWARD_TOPIC_ARN"],
        json!({"Ref": "Topic"})
    );
    assert_eq!(
        own("deliver-events")["KEYWARD_EVENT_BUS"],
        json!({"Ref": "EventBus"}),
        "{TEMPLATE}: deliver-events puts events on the stack's bus"
    );
    assert!(
        !globals.contains_key("KEYWARD_EVENT_BUS"),
        "{TEMPLATE}: KEYWARD_EVENT_BUS belongs to deliver-events only"
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
