//! Lambda function `update-application`: PATCH /applications/{id}.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("update-application").await
}
