//! Lambda function `authorizer`: an API Gateway HTTP API Lambda authorizer
//! (simple responses) that lets a platform protect its own routes with keys.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_authorizer().await
}
