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
/// Actions no function may have.
const FORBIDDEN: [&str; 6] = [
    "dynamodb:*",
    "dynamodb:Scan",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteTable",
    "*",
];

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
            binary == "notify-expiring",
            "{TEMPLATE}: only notify-expiring publishes to the topic ({id})"
        );
    }
}
