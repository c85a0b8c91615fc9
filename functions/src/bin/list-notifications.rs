//! Lambda function `list-notifications`: GET /notifications.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("list-notifications").await
}
