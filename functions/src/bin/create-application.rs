//! Lambda function `create-application`: POST /applications.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("create-application").await
}
