//! Lambda function `update-webhook`: PATCH /webhooks/{id}.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("update-webhook").await
}
