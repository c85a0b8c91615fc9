//! Lambda function `retry-deliveries`: webhook deliveries whose retry is due (every minute).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_retry_deliveries().await
}
