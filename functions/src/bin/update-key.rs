//! Lambda function `update-key`: PATCH /keys/{id}.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("update-key").await
}
