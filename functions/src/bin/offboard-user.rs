//! Lambda function `offboard-user`: DELETE /users/{id}.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("offboard-user").await
}
