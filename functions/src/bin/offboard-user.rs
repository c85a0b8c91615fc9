//! Lambda function `offboard-user`: DELETE /users/{id}.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("offboard-user").await
}
