//! Lambda function `verify-key`: POST /verify.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("verify-key").await
}
