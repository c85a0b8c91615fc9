//! Lambda function `enable-key`: POST /keys/{id}/enable.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("enable-key").await
}
