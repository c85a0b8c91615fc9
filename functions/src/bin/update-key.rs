//! Lambda function `update-key`: PATCH /keys/{id}.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("update-key").await
}
