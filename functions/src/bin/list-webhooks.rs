//! Lambda function `list-webhooks`: GET /webhooks.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("list-webhooks").await
}
