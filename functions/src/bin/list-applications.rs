//! Lambda function `list-applications`: GET /applications.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("list-applications").await
}
