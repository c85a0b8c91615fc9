//! The second cold-start baseline: the hello-world function plus the one
//! thing `verify-key` cannot answer without, a strongly consistent
//! `GetItem`, written the way aws-lambda-rust-runtime's DynamoDB example
//! writes it: the default SDK configuration (credential and region chains,
//! the system's root certificates) and the default multi-threaded runtime.
//! `benches/lambda.sh` builds it with the same profile as the functions.
//!
//! It reads the item whose partition key is `BENCH_ITEM_PK` (sort key
//! `KEY`) from `KEYWARD_TABLE` and answers 200 if it is there, 404 if not,
//! so the benchmark can check that the read happened.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // This workspace builds the SDK without its default HTTPS client (which
    // would bring aws-lc); this is that client on ring, trusting the
    // system's roots as the SDK's default does.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(keyward::aws::http_client())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("KEYWARD_TABLE")?;
    let pk = std::env::var("BENCH_ITEM_PK")?;
    run(service_fn(move |_: Request| {
        let request = client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S("KEY".into()))
            .consistent_read(true);
        async move {
            let found = request.send().await?.item.is_some();
            Ok::<_, Error>(
                Response::builder()
                    .status(if found { 200 } else { 404 })
                    .header("content-type", "application/json")
                    .body(Body::from(format!(r#"{{"found":{found}}}"#)))?,
            )
        }
    }))
    .await
}
