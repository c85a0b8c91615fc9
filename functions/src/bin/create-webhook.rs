//! Lambda function `create-webhook`: POST /webhooks.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("create-webhook").await
}
