//! Lambda function `deliver-events`: the table's stream to EventBridge and webhooks.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_deliver_events().await
}
