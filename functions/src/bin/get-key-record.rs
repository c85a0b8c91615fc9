//! Lambda function `get-key-record`: GET /keys/{id}/record.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("get-key-record").await
}
