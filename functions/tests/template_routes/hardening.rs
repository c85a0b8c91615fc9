//! What `infra/template.yaml` does beyond the routes and policies, and
//! what checkov's skipped checks (`infra/.checkov.yaml`) would otherwise
//! leave unguarded: a failed daily job lands in an encrypted dead-letter
//! queue with an alarm (the stream's failed batches too: `events.rs`), the
//! four functions behind open traffic can reserve concurrency, and the
//! topic and every queue are encrypted.

use super::*;

const QUEUE: &str = "NotifyExpiringDeadLetterQueue";
/// SQS keeps a message at most 14 days: the longest time to notice.
const MAX_RETENTION_SECONDS: i64 = 14 * 24 * 60 * 60;
/// Lambda waits about a minute before its first retry of an asynchronous
/// event and two before its second.
const LAMBDA_RETRY_DELAYS_SECONDS: i64 = 60 + 120;

fn queue_arn() -> Value {
    json!({"Fn::GetAtt": format!("{QUEUE}.Arn")})
}

pub(super) fn number(value: &Value, what: &str) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {what} is not a whole number: {value}"))
}

/// `!Not [!Equals [!Ref parameter, ""]]`: the parameter was given.
fn given(parameter: &str) -> Value {
    json!({"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]})
}

#[test]
fn a_failed_expiry_job_lands_in_the_dead_letter_queue() {
    let template = template();
    let declared = functions(&template);
    let (id, function) = &declared["notify-expiring"];
    let properties = &function["Properties"];

    // Lambda's side: a run that fails after its retries.
    let invoke = &properties["EventInvokeConfig"];
    assert_eq!(
        invoke["DestinationConfig"]["OnFailure"],
        json!({"Type": "SQS", "Destination": queue_arn()}),
        "{TEMPLATE}: {id} is invoked asynchronously; a failed run must go to {QUEUE} \
         (EventInvokeConfig.DestinationConfig.OnFailure), or it vanishes"
    );
    let retries = number(&invoke["MaximumRetryAttempts"], "MaximumRetryAttempts");
    assert!((0..=2).contains(&retries), "Lambda retries 0 to 2 times");
    let timeout = number(&properties["Timeout"], &format!("{id}.Timeout"));
    let needed = (retries + 1) * timeout + LAMBDA_RETRY_DELAYS_SECONDS;
    let max_age = number(
        &invoke["MaximumEventAgeInSeconds"],
        "MaximumEventAgeInSeconds",
    );
    assert!(
        max_age >= needed,
        "{TEMPLATE}: {id}'s events expire after {max_age} s, before its {retries} retries of \
         up to {timeout} s each can run ({needed} s): an expired event is dropped, not retried"
    );

    // Scheduler's side: an event it could not deliver.
    let events = object(&properties["Events"], &format!("{id}.Events"));
    let schedules: Vec<&Value> = events
        .values()
        .filter(|e| e["Type"] == "ScheduleV2")
        .collect();
    assert_eq!(schedules.len(), 1, "{TEMPLATE}: {id} has one ScheduleV2");
    let schedule = &schedules[0]["Properties"];
    assert_eq!(
        schedule["DeadLetterConfig"],
        json!({"Arn": queue_arn()}),
        "{TEMPLATE}: the schedule's undelivered events must go to {QUEUE}"
    );
    assert!(
        number(
            &schedule["RetryPolicy"]["MaximumRetryAttempts"],
            "RetryPolicy"
        ) >= 1
    );

    kept_and_watched(&template, QUEUE);

    // SAM grants both senders sqs:SendMessage on the queue from the two
    // declarations above; no inline policy may add SQS rights, but
    // deliver-events' on the stream's dead-letter queue (a plain event
    // source mapping sends with the function's role; events.rs).
    for (binary, (id, resource)) in &declared {
        for statement in statements(id, resource) {
            for action in actions(&statement) {
                if !action.starts_with("sqs:") {
                    continue;
                }
                assert!(
                    binary == "deliver-events"
                        && action == "sqs:SendMessage"
                        && statement["Resource"]
                            == json!({"Fn::GetAtt": "DeliverEventsDeadLetterQueue.Arn"}),
                    "{TEMPLATE}: {id} gets {action} inline on {}; SAM grants the senders \
                     sqs:SendMessage on {QUEUE}, and only deliver-events may send to \
                     DeliverEventsDeadLetterQueue",
                    statement["Resource"]
                );
            }
        }
    }
}

/// A dead-letter queue keeps a failure as long as SQS can, encrypted, and
/// its first message raises an alarm: a failure is not silent.
pub(super) fn kept_and_watched(template: &Value, queue: &str) {
    let declared = &resources(template)[queue];
    assert_eq!(declared["Type"], "AWS::SQS::Queue", "{TEMPLATE}: {queue}");
    assert_eq!(
        number(
            &declared["Properties"]["MessageRetentionPeriod"],
            "MessageRetentionPeriod"
        ),
        MAX_RETENTION_SECONDS,
        "{TEMPLATE}: {queue} must keep a failure for the 14 days SQS allows"
    );
    assert_eq!(
        declared["Properties"]["SqsManagedSseEnabled"], true,
        "{TEMPLATE}: {queue} must be encrypted (SQS-managed: no sender needs a KMS grant)"
    );

    let alarms: Vec<&Value> = resources(template)
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter(|r| {
            r["Properties"]["Dimensions"]
                == json!([{"Name": "QueueName",
                           "Value": {"Fn::GetAtt": format!("{queue}.QueueName")}}])
        })
        .collect();
    assert_eq!(alarms.len(), 1, "{TEMPLATE}: one alarm watches {queue}");
    let alarm = &alarms[0]["Properties"];
    assert_eq!(alarm["Namespace"], "AWS/SQS");
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        alarm["Threshold"], 0,
        "{TEMPLATE}: one message in {queue} must raise the alarm"
    );
    assert_eq!(
        alarm["AlarmActions"],
        json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        template["Conditions"]["HasAlarmTopic"],
        given("AlarmTopicArn")
    );
}

#[test]
fn the_open_functions_may_reserve_concurrency_and_do_not_by_default() {
    let template = template();
    let declared = functions(&template);
    for (binary, parameter, condition) in [
        (
            "verify-key",
            "VerifyKeyReservedConcurrency",
            "HasVerifyKeyReservedConcurrency",
        ),
        (
            "authorizer",
            "AuthorizerReservedConcurrency",
            "HasAuthorizerReservedConcurrency",
        ),
        (
            "report-github-leak",
            "ReportGithubLeakReservedConcurrency",
            "HasReportGithubLeakReservedConcurrency",
        ),
        (
            "report-leaked-keys",
            "ReportLeakedKeysReservedConcurrency",
            "HasReportLeakedKeysReservedConcurrency",
        ),
    ] {
        let (id, function) = &declared[binary];
        assert_eq!(
            function["Properties"]["ReservedConcurrentExecutions"],
            json!({"Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}),
            "{TEMPLATE}: {id} serves unauthenticated traffic; its concurrency must be \
             reservable with {parameter}, and unreserved when that is empty"
        );
        assert_eq!(template["Conditions"][condition], given(parameter));
        let declaration = &template["Parameters"][parameter];
        assert_eq!(
            declaration["Default"], "",
            "{TEMPLATE}: {parameter} must default to unreserved"
        );
        // Reserved concurrency 0 stops the function: the pattern must
        // refuse it (and anything but a positive whole number).
        let pattern = string(&declaration["AllowedPattern"], "AllowedPattern");
        assert!(
            pattern.starts_with("^$|^[1-9][0-9]") && pattern.ends_with('$'),
            "{TEMPLATE}: {parameter} must allow empty or a positive whole number only: {pattern}"
        );
    }
}

#[test]
fn the_topic_and_every_queue_are_encrypted() {
    let template = template();
    let mut checked = 0;
    for (id, resource) in resources(&template) {
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::SNS::Topic") => {
                assert_eq!(
                    properties["KmsMasterKeyId"],
                    json!({"Fn::If": ["HasTopicKmsKey", {"Ref": "TopicKmsKeyArn"}, "alias/aws/sns"]}),
                    "{TEMPLATE}: {id} must be encrypted: the customer key when given, \
                     else the AWS managed key"
                );
            }
            Some("AWS::SQS::Queue") => {
                assert!(
                    properties["SqsManagedSseEnabled"] == true
                        || properties.get("KmsMasterKeyId").is_some(),
                    "{TEMPLATE}: {id} must be encrypted (SqsManagedSseEnabled or KmsMasterKeyId)"
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    assert_eq!(
        checked, 3,
        "{TEMPLATE}: one topic and two queues (the dead-letter queues of the daily job \
         and of the table's stream)"
    );
    assert_eq!(
        template["Conditions"]["HasTopicKmsKey"],
        given("TopicKmsKeyArn")
    );
    assert_eq!(template["Parameters"]["TopicKmsKeyArn"]["Default"], "");

    // Publishing under a customer key needs that key, through SNS only;
    // the AWS managed key's own policy covers callers in the account.
    let declared = functions(&template);
    for (binary, (id, resource)) in &declared {
        let uses_kms: Vec<Value> = statements(id, resource)
            .into_iter()
            .filter(|s| actions(s).iter().any(|a| a.starts_with("kms:")))
            .collect();
        if !super::policies::NOTICE_PUBLISHERS.contains(&binary.as_str()) {
            assert!(uses_kms.is_empty(), "{TEMPLATE}: {id} needs no KMS key");
            continue;
        }
        assert_eq!(uses_kms.len(), 1, "{TEMPLATE}: {id}: one KMS statement");
        let grant = &uses_kms[0];
        let granted: BTreeSet<String> = actions(grant).into_iter().collect();
        assert_eq!(
            granted,
            BTreeSet::from(["kms:Decrypt".to_owned(), "kms:GenerateDataKey".to_owned()]),
            "{TEMPLATE}: {id}: publishing to an encrypted topic needs exactly these"
        );
        assert_eq!(
            grant["Condition"]["StringEquals"]["kms:ViaService"],
            json!({"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}),
            "{TEMPLATE}: {id} may use the key through SNS only"
        );
        // Granted only when there is a customer key to grant.
        let conditional = resource["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
            .find(|s| s["Fn::If"][1] == *grant);
        assert_eq!(
            conditional,
            Some(json!({"Fn::If": ["HasTopicKmsKey", grant, {"Ref": "AWS::NoValue"}]})),
            "{TEMPLATE}: {id}'s KMS statement must exist only with a customer key"
        );
    }
}
