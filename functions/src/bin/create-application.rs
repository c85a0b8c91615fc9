//! Lambda function `create-application`: POST /applications.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("create-application").await
}
