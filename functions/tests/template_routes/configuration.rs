//! The configuration the functions get against what `Config` reads.

use super::*;
use clap::{Args, FromArgMatches};
use keyward::config::Config;
use keyward::leaks::keyring::KEYS_VAR;

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
            super::policies::NOTICE_PUBLISHERS.contains(&binary.as_str()),
            "{TEMPLATE}: KEYWARD_TOPIC_ARN belongs to the functions that publish notices \
             only, {:?} ({binary})",
            super::policies::NOTICE_PUBLISHERS
        );
        if let Some(value) = variables.get("KEYWARD_TOPIC_ARN") {
            assert_eq!(*value, json!({"Ref": "Topic"}), "{binary}");
        }
        assert_eq!(
            variables.contains_key(KEYS_VAR),
            binary == "report-github-leak",
            "{TEMPLATE}: {KEYS_VAR} belongs to report-github-leak only ({binary})"
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

/// GitHub's public keys reach report-github-leak, which does not start
/// without them, from `GithubScanningKeys`: by default GitHub's own URL
/// (the one `leaks::keyring` documents), and never empty.
#[test]
fn report_github_leak_gets_githubs_keys() {
    let template = template();
    let parameters = object(&template["Parameters"], "Parameters");
    let declared = functions(&template);
    let variables = &declared["report-github-leak"].1["Properties"]["Environment"]["Variables"];
    assert_eq!(
        variables[KEYS_VAR],
        json!({"Ref": "GithubScanningKeys"}),
        "{TEMPLATE}: report-github-leak reads {KEYS_VAR} and does not start without it"
    );
    assert!(
        template["Globals"]["Function"]["Environment"]["Variables"]
            .get(KEYS_VAR)
            .is_none(),
        "{TEMPLATE}: {KEYS_VAR} belongs to report-github-leak only"
    );
    let keys = &parameters["GithubScanningKeys"];
    let default = string(&keys["Default"], "GithubScanningKeys.Default");
    assert_eq!(
        default,
        "https://api.github.com/meta/public_keys/secret_scanning"
    );
    let keyring = include_str!("../../src/leaks/keyring.rs");
    assert!(
        keyring.contains(default),
        "functions/src/leaks/keyring.rs no longer names {default} as GitHub's keys: update \
         {TEMPLATE}'s GithubScanningKeys and this test"
    );
    let pattern = string(&keys["AllowedPattern"], "GithubScanningKeys.AllowedPattern");
    assert!(
        !pattern.starts_with("^$|"),
        "{TEMPLATE}: GithubScanningKeys may not be empty: report-github-leak would not start"
    );
}

/// `LeakAction` offers exactly the actions `KEYWARD_LEAK_ACTION` takes, and
/// `DisableUnusedAfterDays` allows exactly the values `Config` accepts (0,
/// or 8 to 3650), so a stack cannot deploy functions that refuse to start.
#[test]
fn the_leak_parameters_allow_what_the_code_accepts() {
    let template = template();
    let parameters = object(&template["Parameters"], "Parameters");
    let command = Config::augment_args(clap::Command::new("keyward"));
    let arg = command
        .get_arguments()
        .find(|a| a.get_env().and_then(|v| v.to_str()) == Some("KEYWARD_LEAK_ACTION"))
        .expect("Config reads KEYWARD_LEAK_ACTION");
    let actions: BTreeSet<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_owned())
        .collect();
    let allowed: BTreeSet<String> = strings(&parameters["LeakAction"]["AllowedValues"])
        .iter()
        .map(|v| string(v, "a LeakAction value").to_owned())
        .collect();
    assert_eq!(allowed, actions, "{TEMPLATE}: LeakAction's AllowedValues");
    assert_eq!(
        actions,
        BTreeSet::from([
            "revoke".to_owned(),
            "disable".to_owned(),
            "notify".to_owned()
        ])
    );

    let days = &parameters["DisableUnusedAfterDays"];
    assert_eq!(
        days["Type"], "String",
        "{TEMPLATE}: DisableUnusedAfterDays is a String with an AllowedPattern: a Number's \
         MinValue and MaxValue cannot refuse 1 to 7"
    );
    let pattern = Pattern::parse(string(&days["AllowedPattern"], "AllowedPattern"));
    let config_accepts = |value: &str| -> bool {
        let command = Config::augment_args(clap::Command::new("keyward"));
        command
            .try_get_matches_from(["keyward", "--disable-unused-after-days", value])
            .ok()
            .and_then(|matches| Config::from_arg_matches(&matches).ok())
            .is_some_and(|config| config.validate().is_ok())
    };
    for n in 0..=4000 {
        let value = n.to_string();
        assert_eq!(
            pattern.matches(&value),
            config_accepts(&value),
            "{TEMPLATE}: DisableUnusedAfterDays' AllowedPattern and Config disagree on {n}"
        );
    }
    for refused in ["", "-1", "08", "1.5", "ten", "99999"] {
        assert!(!pattern.matches(refused), "{refused:?}");
    }
}

/// The few regular expressions parameters use: `^(a|b|...)$`, each
/// alternative a sequence of literal characters and `[...]` classes (with
/// ranges), each optionally followed by `{n}` or `{m,n}`. Enough to check
/// a pattern against the code without a regex engine.
struct Pattern(Vec<Vec<Atom>>);

/// One element of an alternative: the character ranges it matches, and
/// how many times (at least, at most).
type Atom = (Vec<(char, char)>, usize, usize);

impl Pattern {
    fn parse(pattern: &str) -> Pattern {
        let body = pattern
            .strip_prefix("^(")
            .and_then(|p| p.strip_suffix(")$"))
            .unwrap_or_else(|| panic!("not ^(...)$: {pattern}"));
        let alternatives = body
            .split('|')
            .map(|alternative| {
                let mut atoms = Vec::new();
                let mut chars = alternative.chars().peekable();
                while let Some(c) = chars.next() {
                    let set = if c == '[' {
                        let mut set = Vec::new();
                        while let Some(first) = chars.next().filter(|c| *c != ']') {
                            if chars.peek() == Some(&'-') {
                                chars.next();
                                set.push((first, chars.next().expect("a range's end")));
                            } else {
                                set.push((first, first));
                            }
                        }
                        set
                    } else {
                        assert!(c.is_ascii_alphanumeric(), "unsupported {c:?} in {pattern}");
                        vec![(c, c)]
                    };
                    let (mut min, mut max) = (1, 1);
                    if chars.peek() == Some(&'{') {
                        chars.next();
                        let counts: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        let mut bounds = counts.split(',').map(|n| n.parse().expect("a count"));
                        min = bounds.next().expect("a count");
                        max = bounds.next().unwrap_or(min);
                    }
                    atoms.push((set, min, max));
                }
                atoms
            })
            .collect();
        Pattern(alternatives)
    }

    fn matches(&self, text: &str) -> bool {
        fn rest(atoms: &[Atom], text: &[char]) -> bool {
            let Some(((set, min, max), others)) = atoms.split_first() else {
                return text.is_empty();
            };
            let within = |c: &char| set.iter().any(|(a, b)| (a..=b).contains(&c));
            let run = text.iter().take(*max).take_while(|c| within(c)).count();
            (*min..=run).rev().any(|n| rest(others, &text[n..]))
        }
        let text: Vec<char> = text.chars().collect();
        self.0.iter().any(|atoms| rest(atoms, &text))
    }
}
