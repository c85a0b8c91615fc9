//! Least-privilege IAM: each function's inline policies.

use super::*;

/// Functions that only read the table (and, for the two verifiers, write
/// `last_used_at` and debit metered keys' counters).
const READ_ONLY: [&str; 12] = [
    "list-applications",
    "get-application",
    "list-keys",
    "get-key",
    "get-key-record",
    "verify-key",
    "authorizer",
    "list-notifications",
    "list-audit",
    "list-webhooks",
    "get-webhook",
    "list-webhook-deliveries",
];
/// Actions no function may have. `dynamodb:ListStreams` takes Resource
/// `*` (every stream of the account) and an event source mapping that
/// names its stream does not need it.
const FORBIDDEN: [&str; 10] = [
    "dynamodb:*",
    "dynamodb:Scan",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteTable",
    "dynamodb:ListStreams",
    "events:*",
    "sqs:*",
    "sns:*",
    "*",
];
/// The functions that publish notices to the topic (`KEYWARD_TOPIC_ARN`):
/// the daily job (expiring and dormant keys) and the two leak reports
/// (leaked keys).
pub(super) const NOTICE_PUBLISHERS: [&str; 3] = [
    "notify-expiring",
    "report-github-leak",
    "report-leaked-keys",
];
/// What Lambda's event source mapping reads of the table's stream, with
/// the role of the function it invokes.
const STREAM_READS: [&str; 3] = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
];

#[test]
fn policies_are_least_privilege() {
    let template = template();
    let table_arn = json!({"Fn::GetAtt": "Table.Arn"});
    let index_arn = json!({"Fn::Sub": format!("${{Table.Arn}}/index/{INDEX}")});
    let stream_arn = json!({"Fn::GetAtt": "Table.StreamArn"});
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
                    if STREAM_READS.contains(&action.as_str()) {
                        assert!(
                            target == stream_arn,
                            "{TEMPLATE}: {id} gets {action} on {target}: only the table's \
                             stream (!GetAtt Table.StreamArn)"
                        );
                    } else if action.starts_with("dynamodb:") {
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
                    } else if action.starts_with("events:") {
                        assert!(
                            target == json!({"Fn::GetAtt": "EventBus.Arn"}),
                            "{TEMPLATE}: {id} gets {action} on {target}: only the stack's bus"
                        );
                    } else if action.starts_with("sqs:") {
                        assert!(
                            target == json!({"Fn::GetAtt": "DeliverEventsDeadLetterQueue.Arn"}),
                            "{TEMPLATE}: {id} gets {action} on {target}: only the stream's \
                             dead-letter queue"
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
        let mut debits = false;
        for statement in &statements {
            let granted_here = actions(statement);
            let writes = |a: &str| granted_here.iter().any(|g| g == a);
            if writes_usage
                && writes("dynamodb:UpdateItem")
                && statement["Sid"] == "DebitMeteredKeys"
            {
                // A metered key's debit: its counters only, never its
                // item, status or expiry.
                let condition = &statement["Condition"]["ForAllValues:StringLike"];
                assert_eq!(
                    condition["dynamodb:LeadingKeys"],
                    json!(["KEY#*"]),
                    "{TEMPLATE}: {id} may debit key items only"
                );
                let listed = strings(&condition["dynamodb:Attributes"]);
                let attributes: BTreeSet<&str> = listed
                    .iter()
                    .map(|a| string(a, "a dynamodb:Attributes value"))
                    .collect();
                let counters = [
                    PARTITION_KEY,
                    SORT_KEY,
                    "version",
                    "credits_remaining",
                    "credits_period",
                    "debit_token",
                    "rl.*",
                ];
                assert_eq!(
                    attributes,
                    BTreeSet::from(counters),
                    "{TEMPLATE}: {id} may write a key's counters only"
                );
                debits = true;
            } else if writes_usage && writes("dynamodb:UpdateItem") {
                // last_used_at on key items, off the answer's path.
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
        assert_eq!(
            debits, writes_usage,
            "{TEMPLATE}: {id}: the two verifiers debit metered keys (DebitMeteredKeys), \
             nothing else does"
        );
        let publishes = granted.contains("sns:Publish");
        assert_eq!(
            publishes,
            NOTICE_PUBLISHERS.contains(&binary.as_str()),
            "{TEMPLATE}: only {NOTICE_PUBLISHERS:?} publish to the topic ({id})"
        );
        let reads_stream = STREAM_READS.iter().any(|a| granted.contains(*a));
        assert_eq!(
            reads_stream,
            binary == "deliver-events",
            "{TEMPLATE}: only deliver-events reads the table's stream ({id})"
        );
        assert_eq!(
            granted.contains("events:PutEvents"),
            binary == "deliver-events",
            "{TEMPLATE}: only deliver-events puts events on the bus ({id})"
        );
    }
}

/// A JSON value with every object's keys sorted: statements compare as
/// text, whatever order the template lists their keys in.
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Every (action, resource, condition) a function's statements grant, one
/// line each.
fn grants(id: &str, resource: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for statement in statements(id, resource) {
        let condition = statement.get("Condition").cloned().unwrap_or(Value::Null);
        for action in actions(&statement) {
            for target in strings(&statement["Resource"]) {
                found.insert(format!(
                    "{action} on {} if {}",
                    canonical(&target),
                    canonical(&condition)
                ));
            }
        }
    }
    found
}

fn grant(action: &str, target: Value, condition: Value) -> String {
    format!(
        "{action} on {} if {}",
        canonical(&target),
        canonical(&condition)
    )
}

/// `dynamodb:LeadingKeys` limited to partitions starting with `prefix`.
fn leading(prefix: &str) -> Value {
    json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [format!("{prefix}*")]}})
}

/// The two functions behind events out get exactly the calls they make
/// (`events::stream`, `events::deliverer`, `store/dynamodb/webhooks.rs`,
/// `commit.rs`, which sends one `TransactWriteItems` of the delivery
/// `Put`s and reads nothing on a conflict), on the partitions they make
/// them on, and nothing else.
#[test]
fn the_event_functions_get_exactly_their_calls() {
    let template = template();
    let declared = functions(&template);
    let table = json!({"Fn::GetAtt": "Table.Arn"});
    let index = json!({"Fn::Sub": format!("${{Table.Arn}}/index/{INDEX}")});
    let stream = json!({"Fn::GetAtt": "Table.StreamArn"});
    let webhooks = leading("WEBHOOKS#");
    let deliveries_in_transactions = json!({
        "ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]},
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["DELIVERIES#*"]},
    });
    // The code's partition prefixes are the ones the conditions name.
    let layout = include_str!("../../src/store/dynamodb/layout.rs");
    for needle in [
        "format!(\"WEBHOOKS#{account}\")",
        "format!(\"DELIVERIES#{webhook_id}\")",
    ] {
        assert!(
            layout.contains(needle),
            "functions/src/store/dynamodb/layout.rs no longer contains `{needle}`: update \
             {TEMPLATE}'s dynamodb:LeadingKeys conditions and this test"
        );
    }

    let mut expected_deliver: BTreeSet<String> = STREAM_READS
        .iter()
        .map(|a| grant(a, stream.clone(), Value::Null))
        .collect();
    expected_deliver.extend([
        grant("dynamodb:Query", table.clone(), webhooks.clone()),
        grant("dynamodb:GetItem", table.clone(), webhooks.clone()),
        grant(
            "dynamodb:PutItem",
            table.clone(),
            deliveries_in_transactions.clone(),
        ),
        grant(
            "events:PutEvents",
            json!({"Fn::GetAtt": "EventBus.Arn"}),
            json!({"StringEquals": {"events:source": keyward::aws::EVENT_SOURCE}}),
        ),
        grant(
            "sqs:SendMessage",
            json!({"Fn::GetAtt": "DeliverEventsDeadLetterQueue.Arn"}),
            Value::Null,
        ),
    ]);
    let expected_retry: BTreeSet<String> = [
        grant("dynamodb:Query", index, Value::Null),
        grant("dynamodb:GetItem", table.clone(), webhooks),
        grant("dynamodb:PutItem", table, deliveries_in_transactions),
    ]
    .into_iter()
    .collect();

    for (binary, expected) in [
        ("deliver-events", expected_deliver),
        ("retry-deliveries", expected_retry),
    ] {
        let (id, resource) = &declared[binary];
        let granted = grants(id, resource);
        let missing: Vec<&String> = expected.difference(&granted).collect();
        let extra: Vec<&String> = granted.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{TEMPLATE}: {id}'s policies differ from the calls it makes.\
             \nMissing: {missing:#?}\nNot needed: {extra:#?}"
        );
    }
}

/// The functions that act on keys without a caller (the two leak reports
/// and the daily job) get exactly the calls they make, on the partitions
/// they make them on: `service/leaks.rs` reads a reported key (`get_key`,
/// one `GetItem` of `KEY#<id>`), and for a live one commits the `Update` of
/// the key at the version read with `Put`s of its `key.leaked` event and
/// its notice (`store/dynamodb/writes.rs`), then publishes the notice;
/// `service/notices.rs` queries the expiry index and commits a notice with
/// its `key.expiring` event; `service/dormant.rs` also reads each candidate
/// again and commits its notice, or its disable (the key's `Update` and a
/// `key.disabled` event). Each may publish to the topic, and use the
/// topic's customer key through SNS when there is one.
#[test]
fn the_leak_reports_and_the_daily_job_get_exactly_their_calls() {
    let template = template();
    let declared = functions(&template);
    let table = json!({"Fn::GetAtt": "Table.Arn"});
    let index = json!({"Fn::Sub": format!("${{Table.Arn}}/index/{INDEX}")});
    // The code's partition prefixes are the ones the conditions name.
    let layout = include_str!("../../src/store/dynamodb/layout.rs");
    for needle in [
        "const KEY_PREFIX: &str = \"KEY#\";",
        "format!(\"NOTICE#{id}\")",
        "format!(\"AUDIT#{account}\")",
    ] {
        assert!(
            layout.contains(needle),
            "functions/src/store/dynamodb/layout.rs no longer contains `{needle}`: update \
             {TEMPLATE}'s dynamodb:LeadingKeys conditions and this test"
        );
    }
    let in_transactions = |prefixes: &[&str]| {
        json!({
            "ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]},
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes},
        })
    };
    let acting_on_keys: BTreeSet<String> = [
        grant("dynamodb:GetItem", table.clone(), leading("KEY#")),
        grant(
            "dynamodb:UpdateItem",
            table.clone(),
            in_transactions(&["KEY#*"]),
        ),
        grant(
            "dynamodb:PutItem",
            table.clone(),
            in_transactions(&["AUDIT#*", "NOTICE#*"]),
        ),
        grant("sns:Publish", json!({"Ref": "Topic"}), Value::Null),
        grant(
            "kms:GenerateDataKey",
            json!({"Ref": "TopicKmsKeyArn"}),
            json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}}),
        ),
        grant(
            "kms:Decrypt",
            json!({"Ref": "TopicKmsKeyArn"}),
            json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}}),
        ),
    ]
    .into_iter()
    .collect();
    let mut daily = acting_on_keys.clone();
    daily.insert(grant("dynamodb:Query", index, Value::Null));

    for (binary, expected) in [
        ("report-github-leak", acting_on_keys.clone()),
        ("report-leaked-keys", acting_on_keys),
        ("notify-expiring", daily),
    ] {
        let (id, resource) = &declared[binary];
        let granted = grants(id, resource);
        let missing: Vec<&String> = expected.difference(&granted).collect();
        let extra: Vec<&String> = granted.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{TEMPLATE}: {id}'s policies differ from the calls it makes.\
             \nMissing: {missing:#?}\nNot needed: {extra:#?}"
        );
    }
}
