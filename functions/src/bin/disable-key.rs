//! Lambda function `disable-key`: POST /keys/{id}/disable.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("disable-key").await
}
