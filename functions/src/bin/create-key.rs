//! Lambda function `create-key`: POST /applications/{id}/keys.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("create-key").await
}
