//! Lambda function `revoke-application`: POST /applications/{id}/revoke.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("revoke-application").await
}
