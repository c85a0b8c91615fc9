//! Lambda function `list-audit`: GET /audit.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("list-audit").await
}
