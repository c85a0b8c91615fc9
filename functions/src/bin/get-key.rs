//! Lambda function `get-key`: GET /keys/{id}.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("get-key").await
}
