//! Lambda function `delete-webhook`: DELETE /webhooks/{id}.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("delete-webhook").await
}
