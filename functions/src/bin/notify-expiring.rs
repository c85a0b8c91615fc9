//! Lambda function `notify-expiring`: the daily EventBridge-scheduled job
//! that sends one notice per key expiring soon and per day.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_notify_expiring().await
}
