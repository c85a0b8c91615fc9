//! The daily expiry job, fed the EventBridge scheduled event, publishing
//! through SNS to an SQS queue on moto.

use super::*;

const SCHEDULED_EVENT: &str = include_str!("../fixtures/eventbridge-scheduled.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_job_notifies_once_per_key_and_day_through_sns() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let service = service(client, &table);
    let alice = caller("alice");
    let app = new_app(&service, &alice).await;
    let in_days = |d: i64| Some(keyward::domain::rfc3339::format(time_now() + d * 86_400));
    let (soon_id, _) = new_key(&service, &alice, &app, &[], in_days(3)).await;
    let (later_id, _) = new_key(&service, &alice, &app, &[], in_days(100)).await;

    // An SQS queue subscribed to the topic shows what SNS delivered.
    let sns = moto::sns();
    let topic = sns
        .create_topic()
        .name(moto::unique("notices"))
        .send()
        .await
        .unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_owned();
    let queue_name = moto::unique("inbox");
    let queue_url = sqs("CreateQueue", json!({"QueueName": queue_name})).await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(format!(
            "arn:aws:sqs:{}:123456789012:{queue_name}",
            moto::REGION
        ))
        .send()
        .await
        .unwrap();

    let mut env = moto::function_env(&table);
    env.push(("KEYWARD_TOPIC_ARN", topic_arn));
    let job = LambdaProcess::start(
        env!("CARGO_BIN_EXE_notify-expiring"),
        "notify-expiring",
        &env,
    )
    .await;
    let event: Value = serde_json::from_str(SCHEDULED_EVENT).unwrap();
    let report = |outcome: Outcome| match outcome {
        Outcome::Response(r) => r,
        other => panic!("job failed: {other:?}"),
    };
    let first = report(job.invoke(event.clone()).await);
    let second = report(job.invoke(event).await);
    assert_eq!(
        (first["sent"].as_u64(), first["already_sent"].as_u64()),
        (Some(1), Some(0)),
        "{first}"
    );
    assert_eq!(
        (second["sent"].as_u64(), second["already_sent"].as_u64()),
        (Some(0), Some(1)),
        "{second}"
    );
    assert_eq!(first["publish_failures"], 0);

    let notices = service
        .list_notifications(&alice, &Default::default())
        .await
        .unwrap();
    assert_eq!(notices.items.len(), 1);
    assert_eq!(notices.items[0].key_id, soon_id);

    let received = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
    )
    .await;
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "one publish for one notice: {received}");
    let envelope: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    let notice: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(notice["key_id"], soon_id.as_str());
    assert_eq!(notice["recipient"], "alice");
    assert_ne!(notice["key_id"], later_id.as_str());
}
