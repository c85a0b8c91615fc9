//! Lambda function `regenerate-key`: POST /keys/{id}/regenerate.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("regenerate-key").await
}
