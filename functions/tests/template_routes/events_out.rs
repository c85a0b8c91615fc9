//! Events out (docs/ARCHITECTURE.md, "Events out") as the template
//! deploys them: the table's stream through one filtered event source
//! mapping to `deliver-events`, its failed batches in an encrypted
//! dead-letter queue with an alarm, the stack's EventBridge bus, and
//! `retry-deliveries` every minute. The IAM of the two functions is in
//! `policies.rs`.

use super::hardening::{kept_and_watched, number};
use super::*;
use keyward::events::delivery::ATTEMPT_TIMEOUT;

const MAPPING: &str = "DeliverEventsStream";
const QUEUE: &str = "DeliverEventsDeadLetterQueue";
const BUS: &str = "EventBus";
/// DynamoDB keeps a stream record 24 hours: a record older than that is
/// gone anyway.
const STREAM_RETENTION_SECONDS: i64 = 24 * 60 * 60;
/// The most records a batch may hold for the first attempts to fit the
/// function's timeout at all (one per record, one PutEvents each).
const MAX_BATCH: i64 = 100;

/// Only inserted audit items invoke deliver-events: the audit log is the
/// outbox, and every other change of the table is no event.
fn audit_inserts() -> Value {
    json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "AUDIT#"}]}}}})
}

/// A function's timeout in seconds, its own or the Globals'.
fn timeout_of(template: &Value, function: &Value, id: &str) -> i64 {
    let own = &function["Properties"]["Timeout"];
    let value = if own.is_null() {
        &template["Globals"]["Function"]["Timeout"]
    } else {
        own
    };
    number(value, &format!("{id}.Timeout"))
}

#[test]
fn the_stream_reaches_deliver_events_through_one_filtered_mapping() {
    let template = template();
    let declared = functions(&template);
    let (id, function) = &declared["deliver-events"];

    // No SAM stream event: SAM would attach AWSLambdaDynamoDBExecutionRole
    // (the stream actions on Resource "*") to the function's role.
    for (fid, resource) in declared.values() {
        if let Some(events) = resource["Properties"]["Events"].as_object() {
            for (name, event) in events {
                assert!(
                    event["Type"] != "DynamoDB" && event["Type"] != "Kinesis",
                    "{TEMPLATE}: {fid}.Events.{name}: a SAM stream event attaches a managed \
                     policy with the stream actions on every stream; use {MAPPING} \
                     (AWS::Lambda::EventSourceMapping) and the function's own policy"
                );
            }
        }
    }
    assert!(
        function["Properties"].get("Events").is_none(),
        "{TEMPLATE}: {id} is invoked by {MAPPING} only"
    );

    let mappings: Vec<(&String, &Value)> = resources(&template)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::EventSourceMapping")
        .collect();
    assert_eq!(
        mappings.len(),
        1,
        "{TEMPLATE}: one event source mapping, {MAPPING}"
    );
    let (name, mapping) = mappings[0];
    assert_eq!(name, MAPPING);
    let p = &mapping["Properties"];
    assert_eq!(p["FunctionName"], json!({"Ref": id}));
    assert_eq!(
        p["EventSourceArn"],
        json!({"Fn::GetAtt": "Table.StreamArn"}),
        "{TEMPLATE}: {MAPPING} reads the table's stream"
    );
    assert_eq!(
        p["StartingPosition"], "TRIM_HORIZON",
        "{TEMPLATE}: {MAPPING} must start at the oldest record, or events committed \
         before it is enabled are skipped"
    );
    let batch = number(&p["BatchSize"], "BatchSize");
    assert!(
        (1..=MAX_BATCH).contains(&batch),
        "{TEMPLATE}: {MAPPING}'s BatchSize {batch} is not 1 to {MAX_BATCH}"
    );
    assert!(
        number(
            &p["MaximumBatchingWindowInSeconds"],
            "MaximumBatchingWindowInSeconds"
        ) <= 1,
        "{TEMPLATE}: {MAPPING} may wait at most a second to fill a batch: events are \
         delivered within seconds"
    );
    // Per-account commit order: one batch per shard at a time.
    assert!(
        p.get("ParallelizationFactor").is_none() || p["ParallelizationFactor"] == 1,
        "{TEMPLATE}: {MAPPING} must not process a shard's records in parallel"
    );

    // Failures: a partial batch response names the first record to retry;
    // a function error halves the batch; after the retries the batch's
    // description goes to the queue and the stream moves on.
    assert_eq!(
        p["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"]),
        "{TEMPLATE}: deliver-events answers a partial batch response \
         (events::stream::StreamHandler); without ReportBatchItemFailures Lambda \
         ignores it and the batch counts as processed"
    );
    assert_eq!(p["BisectBatchOnFunctionError"], true);
    let retries = number(&p["MaximumRetryAttempts"], "MaximumRetryAttempts");
    assert_eq!(
        retries, 10,
        "{TEMPLATE}: {MAPPING} retries a failed batch 10 times, not forever (-1 would \
         block the shard behind one bad record)"
    );
    let age = number(&p["MaximumRecordAgeInSeconds"], "MaximumRecordAgeInSeconds");
    assert!(
        (60..=STREAM_RETENTION_SECONDS).contains(&age),
        "{TEMPLATE}: {MAPPING}'s MaximumRecordAgeInSeconds {age} is not within the \
         stream's 24 hours"
    );
    assert_eq!(
        p["DestinationConfig"],
        json!({"OnFailure": {"Destination": {"Fn::GetAtt": format!("{QUEUE}.Arn")}}}),
        "{TEMPLATE}: batches {MAPPING} gives up on must go to {QUEUE}"
    );
    kept_and_watched(&template, QUEUE);

    // The filter: inserted audit items only, as events::stream reads them.
    let filters = p["FilterCriteria"]["Filters"]
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {MAPPING} needs FilterCriteria.Filters"));
    assert_eq!(filters.len(), 1, "{TEMPLATE}: {MAPPING}: one filter");
    let pattern: Value = serde_json::from_str(string(&filters[0]["Pattern"], "Pattern"))
        .unwrap_or_else(|e| panic!("{TEMPLATE}: {MAPPING}'s filter is not JSON: {e}"));
    assert_eq!(
        pattern,
        audit_inserts(),
        "{TEMPLATE}: {MAPPING} must invoke deliver-events for inserted audit items only"
    );
    let stream = include_str!("../../src/events/stream.rs");
    let layout = include_str!("../../src/store/dynamodb/layout.rs");
    assert!(
        stream.contains("record.event_name != \"INSERT\"")
            && stream.contains("pk.starts_with(\"AUDIT#\")")
            && layout.contains("format!(\"AUDIT#{account}\")"),
        "functions/src/events/stream.rs or store/dynamodb/layout.rs no longer take \
         inserted AUDIT# items: update {MAPPING}'s filter and this test"
    );

    // The function can wait out a receiver's attempt, whatever else the
    // batch holds.
    let timeout = timeout_of(&template, function, id);
    assert!(
        timeout >= 4 * ATTEMPT_TIMEOUT.as_secs() as i64,
        "{TEMPLATE}: {id}'s timeout {timeout} s leaves too little for attempts of up to \
         {} s each",
        ATTEMPT_TIMEOUT.as_secs()
    );
}

#[test]
fn events_go_on_the_stacks_bus() {
    let template = template();
    let bus = &resources(&template)[BUS];
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    let name = string(
        &bus["Properties"]["Name"]["Fn::Sub"],
        "EventBus.Name (a !Sub)",
    );
    assert!(
        name.contains("${AWS::StackName}"),
        "{TEMPLATE}: the bus's name must derive from the stack's ({name}), so two stacks \
         in one account and region do not collide"
    );
    assert!(
        bus["Properties"].get("Policy").is_none(),
        "{TEMPLATE}: no resource policy: only this account's principals put events on {BUS}"
    );

    let outputs = &template["Outputs"];
    assert_eq!(outputs["EventBusName"]["Value"], json!({"Ref": BUS}));
    assert_eq!(
        outputs["EventBusArn"]["Value"],
        json!({"Fn::GetAtt": format!("{BUS}.Arn")})
    );
    assert_eq!(
        outputs["DeliverEventsDeadLetterQueueUrl"]["Value"],
        json!({"Ref": QUEUE})
    );
}

#[test]
fn retry_deliveries_runs_every_minute() {
    let template = template();
    let declared = functions(&template);
    let (id, function) = &declared["retry-deliveries"];
    let properties = &function["Properties"];
    let events = object(&properties["Events"], &format!("{id}.Events"));
    assert_eq!(
        events.len(),
        1,
        "{TEMPLATE}: {id} has one event, its schedule"
    );
    let schedule = events.values().next().expect("one event");
    assert_eq!(
        schedule["Type"], "Schedule",
        "{TEMPLATE}: {id} runs on an EventBridge schedule"
    );
    assert_eq!(
        schedule["Properties"]["Schedule"], "rate(1 minute)",
        "{TEMPLATE}: a retry is due within a minute of its time (docs/ARCHITECTURE.md)"
    );
    assert_ne!(schedule["Properties"]["Enabled"], false);

    // A failed run is redone by the next tick: Lambda must not retry it
    // on top of that.
    let invoke = &properties["EventInvokeConfig"];
    assert_eq!(
        number(&invoke["MaximumRetryAttempts"], "MaximumRetryAttempts"),
        0,
        "{TEMPLATE}: {id}: the next minute's run redoes a failed one; a retry would \
         overlap it"
    );
    let timeout = timeout_of(&template, function, id);
    assert!(
        timeout >= 4 * ATTEMPT_TIMEOUT.as_secs() as i64,
        "{TEMPLATE}: {id}'s timeout {timeout} s leaves too little for attempts of up to \
         {} s each",
        ATTEMPT_TIMEOUT.as_secs()
    );
}
