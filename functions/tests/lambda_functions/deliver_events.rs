//! `deliver-events` fed the table's own stream records (read from moto's
//! DynamoDB Streams, in the Lambda event's `Records` shape): every event on
//! an EventBridge bus (a rule to an SQS queue, read back) and delivered to a
//! webhook receiver on loopback; a redelivered batch makes no second
//! delivery; a bus that refuses reports the first record as the batch's
//! failure; `retry-deliveries` makes the due retry.

use super::*;
use crate::webhook_receiver::Receiver;
use keyward::events::Event;
use keyward::events::sealing::SealingKey;
use keyward::service::CreateWebhook;

const SEALING_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
const SCHEDULED_EVENT: &str = include_str!("../fixtures/eventbridge-scheduled.json");

/// Every record of the table's stream so far, as Lambda hands them over.
async fn stream_batch(table: &str) -> Value {
    let streams = |action, body| moto_json("dynamodb", "DynamoDBStreams_20120810", action, body);
    let described = moto_json(
        "dynamodb",
        "DynamoDB_20120810",
        "DescribeTable",
        json!({"TableName": table}),
    )
    .await;
    let arn = described["Table"]["LatestStreamArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream = streams("DescribeStream", json!({"StreamArn": arn})).await;
    let mut records = Vec::new();
    for shard in stream["StreamDescription"]["Shards"].as_array().unwrap() {
        let iterator = streams(
            "GetShardIterator",
            json!({"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let got = streams(
            "GetRecords",
            json!({"ShardIterator": iterator["ShardIterator"], "Limit": 1000}),
        )
        .await;
        for mut record in got["Records"].as_array().unwrap().clone() {
            record["eventSourceARN"] = json!(arn);
            records.push(record);
        }
    }
    json!({ "Records": records })
}

/// A bus whose every event goes to a new queue; the bus name and the
/// queue's URL.
async fn bus_to_queue() -> (String, String) {
    let events = |action, body| moto_json("events", "AWSEvents", action, body);
    let bus = moto::unique("keyward-events");
    events("CreateEventBus", json!({"Name": bus})).await;
    let queue = moto::unique("events");
    let url = sqs("CreateQueue", json!({"QueueName": queue})).await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule = moto::unique("all");
    events(
        "PutRule",
        json!({"Name": rule, "EventBusName": bus, "EventPattern": json!({"source": ["keyward"]}).to_string()}),
    )
    .await;
    events(
        "PutTargets",
        json!({"Rule": rule, "EventBusName": bus, "Targets": [
            {"Id": "queue", "Arn": format!("arn:aws:sqs:{}:123456789012:{queue}", moto::REGION)}
        ]}),
    )
    .await;
    (bus, url)
}

async fn drain(queue_url: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let got = sqs(
            "ReceiveMessage",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
        )
        .await;
        let messages = got["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        for message in messages {
            all.push(serde_json::from_str(message["Body"].as_str().unwrap()).unwrap());
            sqs(
                "DeleteMessage",
                json!({"QueueUrl": queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stream_goes_to_eventbridge_and_webhooks_once_each() {
    if !moto::available() {
        return;
    }
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let (client, table) = moto::table().await;
    let config = Config {
        webhook_allow_insecure: true,
        ..Config::default()
    };
    let sealing = Arc::new(SealingKey::from_base64(SEALING_KEY).unwrap());
    let service = Service::new(
        Arc::new(DynamoStore::new(client, &table)),
        config,
        Arc::new(SystemClock),
        Arc::new(LogPublisher),
    )
    .with_webhook_sealing(sealing);
    let alice = caller("alice");
    let hook = service
        .create_webhook(
            &alice,
            &CreateWebhook {
                url: receiver.url("/hook"),
                events: None,
                description: String::new(),
            },
            None,
        )
        .await
        .unwrap();
    // The first attempt of the first event fails: retry-deliveries makes
    // the second.
    receiver.control(hook.secret.expose(), &["fail"]).await;
    let app = new_app(&service, &alice).await;
    let (key, _) = new_key(&service, &alice, &app, &[], None).await;
    service.disable_key(&alice, &key, None).await.unwrap();
    let mut audit = service
        .list_audit(&alice, &Default::default())
        .await
        .unwrap()
        .items;
    audit.reverse();
    let expected: Vec<Value> = audit
        .iter()
        .filter_map(Event::from_audit)
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(
        expected.len(),
        3,
        "application.created, key.created, key.disabled"
    );

    let batch = stream_batch(&table).await;
    let (bus, queue_url) = bus_to_queue().await;
    let mut env = moto::function_env(&table);
    env.extend([
        ("KEYWARD_EVENT_BUS", bus.clone()),
        ("KEYWARD_WEBHOOK_SEALING_KEY", SEALING_KEY.to_owned()),
        ("KEYWARD_WEBHOOK_ALLOW_INSECURE", "true".to_owned()),
    ]);
    let function =
        LambdaProcess::start(env!("CARGO_BIN_EXE_deliver-events"), "deliver-events", &env).await;
    let answer = match function.invoke(batch.clone()).await {
        Outcome::Response(answer) => answer,
        other => panic!("deliver-events failed: {other:?}"),
    };
    assert_eq!(answer, json!({"batchItemFailures": []}));

    // EventBridge: each event once, source keyward, detail-type its type.
    let on_bus = drain(&queue_url).await;
    let details: Vec<Value> = on_bus.iter().map(|e| e["detail"].clone()).collect();
    assert_eq!(details, expected);
    for (envelope, event) in on_bus.iter().zip(&expected) {
        assert_eq!(envelope["source"], "keyward");
        assert_eq!(envelope["detail-type"], event["type"]);
    }
    // The webhook: three attempts made, the first refused by the receiver.
    let received = receiver.wait_for(3).await;
    let bodies: Vec<Value> = received
        .iter()
        .map(|r| {
            assert_eq!(r["verified"], true, "{r}");
            serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(bodies, expected);

    // Lambda hands the same batch again (a retry): records exist, so no
    // webhook gets a second first attempt.
    let again = function.invoke(batch.clone()).await;
    assert!(matches!(again, Outcome::Response(ref a) if a["batchItemFailures"] == json!([])));
    assert_eq!(receiver.received().await.0.len(), 3);
    drain(&queue_url).await;

    // The failed first attempt is due after 5 s: retry-deliveries makes it.
    let deliveries = service
        .list_webhook_deliveries(&alice, &hook.webhook.id, &Default::default())
        .await
        .unwrap()
        .items;
    let failed: Vec<_> = deliveries
        .iter()
        .filter(|d| d.attempts == 1 && d.response_status == Some(500))
        .collect();
    assert_eq!(failed.len(), 1, "{deliveries:?}");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let retry = LambdaProcess::start(
        env!("CARGO_BIN_EXE_retry-deliveries"),
        "retry-deliveries",
        &env,
    )
    .await;
    let report = match retry
        .invoke(serde_json::from_str(SCHEDULED_EVENT).unwrap())
        .await
    {
        Outcome::Response(report) => report,
        other => panic!("retry-deliveries failed: {other:?}"),
    };
    assert_eq!(report["attempted"], 1);
    let received = receiver.wait_for(4).await;
    assert_eq!(received[3]["webhook_id"], received[0]["webhook_id"]);
    assert_eq!(received[3]["verified"], true);

    // A bus that refuses: the first record with an event (the webhook's own
    // creation is audited but is no event) is the batch's failure.
    let mut broken = env.clone();
    broken.retain(|(name, _)| *name != "KEYWARD_EVENT_BUS");
    broken.push(("KEYWARD_EVENT_BUS", moto::unique("no-such-bus")));
    let function = LambdaProcess::start(
        env!("CARGO_BIN_EXE_deliver-events"),
        "deliver-events",
        &broken,
    )
    .await;
    let answer = match function.invoke(batch.clone()).await {
        Outcome::Response(answer) => answer,
        other => panic!("deliver-events failed: {other:?}"),
    };
    let first_event = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            let image = &r["dynamodb"]["NewImage"];
            image["pk"]["S"].as_str().unwrap().starts_with("AUDIT#")
                && image["item"]["S"]
                    .as_str()
                    .unwrap()
                    .contains("\"application.created\"")
        })
        .unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": first_event["dynamodb"]["SequenceNumber"]}])
    );
}
