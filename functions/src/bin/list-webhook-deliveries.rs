//! Lambda function `list-webhook-deliveries`: GET /webhooks/{id}/deliveries.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("list-webhook-deliveries").await
}
