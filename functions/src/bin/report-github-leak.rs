//! Lambda function `report-github-leak`: POST /secret-scanning/github (GitHub's secret scanning partner program).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keyward::lambda::run_http_function("report-github-leak").await
}
