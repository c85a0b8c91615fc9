//! Lambda function `revoke-key`: POST /keys/{id}/revoke and DELETE /keys/{id}.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("revoke-key").await
}
