//! Lambda function `authorizer`: an API Gateway HTTP API Lambda authorizer
//! (simple responses) that lets a platform protect its own routes with keys.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_authorizer().await
}
