//! Lambda function `disable-key`: POST /keys/{id}/disable.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("disable-key").await
}
