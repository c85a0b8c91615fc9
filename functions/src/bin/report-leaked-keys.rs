//! Lambda function `report-leaked-keys`: POST /keys/leaked (open leak reports).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("report-leaked-keys").await
}
