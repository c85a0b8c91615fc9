//! Lambda function `enable-key`: POST /keys/{id}/enable.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("enable-key").await
}
