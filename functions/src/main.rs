//! `keyward`: the local server and CLI.
//!
//! `serve` runs every route on the embedded SQLite store or a DynamoDB
//! table; `token` signs a development JWT with the same secret;
//! `notify-expiring` runs the daily job once; the management commands call
//! the HTTP API.

use clap::{Args, Parser, Subcommand};
use keyward::abuse::FailedVerificationLimit;
use keyward::auth::{self, JwtVerifier, TokenRequest};
use keyward::backend::{Backend, StoreArgs, StoreKind};
use keyward::clock::{Clock, SystemClock};
use keyward::config::Config;
use keyward::console;
use keyward::events::address::SystemResolver;
use keyward::events::deliverer::Deliverer;
use keyward::events::delivery::{ATTEMPT_TIMEOUT, Sender};
use keyward::events::outbox::LocalOutbox;
use keyward::events::sealing::{SEALING_KEY_VAR, SealingKey};
use keyward::http::{AppState, BearerJwt, router};
use keyward::leaks::keyring::GithubKeyring;
use keyward::serve::ConnectionLimits;
use keyward::service::Service;
use keyward::store::sqlite::{private_file, private_folder};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "keyward: API keys for platform teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole API and the console. Tokens are checked with the
    /// HS256 secret in KEYWARD_JWT_SECRET (a variable only, so it stays out
    /// of process lists) or the keys of --jwks FILE; with neither, a
    /// development secret is made in the data folder.
    Serve(ServeArgs),
    /// Print a JWT signed with the local server's secret (development, tests).
    Token(TokenArgs),
    /// Run the daily job once (expiry notices and the dormant-key pass), on
    /// the SQLite store or, from a scheduled container, on the DynamoDB
    /// table.
    NotifyExpiring(NotifyArgs),
    /// DynamoDB tables for `serve --store dynamodb`.
    #[command(subcommand)]
    Dynamodb(DynamodbCommand),
    /// Probe a running server's GET /healthz: exit 0 when it answers 200,
    /// 1 otherwise (a container's health check; the image has no curl).
    Healthcheck(HealthcheckArgs),
    /// The management commands (apps, keys, verify, audit, notifications,
    /// webhooks, completions), over the HTTP API.
    #[command(flatten)]
    Manage(keyward::cli::Manage),
}

#[derive(Subcommand)]
enum DynamodbCommand {
    /// Create the table as infra/template.yaml declares it (keys, index,
    /// TTL, stream), with AWS configuration the standard way.
    CreateTable {
        /// The table's name.
        #[arg(long, env = "KEYWARD_TABLE")]
        table: String,
    },
}

#[derive(Args)]
struct HealthcheckArgs {
    /// The server's listen address, as `serve` was given it (a wildcard
    /// address is probed on loopback).
    #[arg(long, env = "KEYWARD_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    timeout: u64,
}

#[derive(Args)]
struct DataArg {
    /// Folder of the embedded store (and of the development JWT secret).
    #[arg(long, env = "KEYWARD_DATA", default_value = "keyward-data")]
    data: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on, `host:port` (a name such as `localhost`
    /// works; port 0 picks a free port).
    #[arg(long, env = "KEYWARD_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArg,
    /// Verify tokens with the keys of this JWKS file instead of HS256.
    #[arg(long, env = "KEYWARD_JWKS")]
    jwks: Option<PathBuf>,
    /// Required `iss` of tokens, when set.
    #[arg(long, env = "KEYWARD_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Required `aud` of tokens, when set.
    #[arg(long, env = "KEYWARD_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Failed verifications allowed per source address and window before
    /// `POST /verify` answers 429 (0: no limit).
    #[arg(long, env = "KEYWARD_VERIFY_FAILURE_LIMIT", default_value_t = 100)]
    verify_failure_limit: u32,
    /// The window of that limit, in seconds.
    #[arg(long, env = "KEYWARD_VERIFY_FAILURE_WINDOW_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    verify_failure_window_seconds: u64,
    /// Whether this process delivers events to webhooks (the outbox reader
    /// and the deliverer). Off for a server that must make no outbound
    /// calls (a fuzzing run); events stay in the outbox and a server with
    /// it on delivers them later.
    #[arg(long, env = "KEYWARD_DELIVER_EVENTS", default_value_t = true, action = clap::ArgAction::Set)]
    deliver_events: bool,
    /// GitHub's secret scanning public keys, for `POST
    /// /secret-scanning/github`: the `public_keys` JSON, a file holding it,
    /// or an URL serving it (fetched and kept an hour). Unset: the route
    /// answers 503.
    #[arg(long, env = "KEYWARD_GITHUB_SCANNING_KEYS")]
    github_scanning_keys: Option<String>,
    /// Origins (scheme://host[:port], comma-separated) whose pages may call
    /// the API: a copy of the console hosted elsewhere. None by default.
    #[arg(long = "cors-origin", env = "KEYWARD_CORS_ORIGINS", value_delimiter = ',', value_parser = console::parse_origin)]
    cors_origins: Vec<String>,
    #[command(flatten)]
    limits: ConnectionLimits,
    #[command(flatten)]
    config: Config,
}

#[derive(Args)]
struct TokenArgs {
    /// The user id (`sub`).
    #[arg(long)]
    sub: String,
    /// The account (tenant).
    #[arg(long)]
    account: String,
    /// Space-separated permissions and scopes.
    #[arg(long, default_value = "")]
    permissions: String,
    /// Every management permission (added to --permissions).
    #[arg(long)]
    all: bool,
    /// Mark the session as multi-factor (`amr: ["pwd", "mfa"]`).
    #[arg(long)]
    mfa: bool,
    /// Lifetime: a number with s, m, h or d.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    ttl: i64,
    #[command(flatten)]
    data: DataArg,
    /// The claim that names the account.
    #[arg(long, env = "KEYWARD_ACCOUNT_CLAIM", default_value = keyward::config::defaults::ACCOUNT_CLAIM)]
    account_claim: String,
}

#[derive(Args)]
struct NotifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    config: Config,
}

fn parse_duration(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m, 1h or 7d"))?;
    let seconds = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    if seconds <= 0 || seconds > 366 * 86_400 {
        return Err("the duration must be between 1 second and 366 days".into());
    }
    Ok(seconds)
}

const DEV_SECRET_FILE: &str = "dev-jwt-secret";

/// The HS256 secret: `KEYWARD_JWT_SECRET`, or a development secret kept in
/// the data folder (made on first use). The flag says which.
fn jwt_secret(data: &Path) -> Result<(Vec<u8>, bool), String> {
    if let Ok(secret) = std::env::var("KEYWARD_JWT_SECRET") {
        if secret.len() < 32 {
            return Err("KEYWARD_JWT_SECRET must be at least 32 bytes".into());
        }
        return Ok((secret.into_bytes(), false));
    }
    let (secret, made) = folder_secret(data, DEV_SECRET_FILE, |bytes| {
        wasm_validator::base62::encode(bytes, 43)
    })?;
    if made {
        eprintln!(
            "keyward: made a development JWT secret in {}",
            data.join(DEV_SECRET_FILE).display()
        );
    }
    Ok((secret.into_bytes(), true))
}

/// The secret kept in `file` of the data folder, or, the first time, 32
/// random bytes written there as `encode` writes them; with whether it was
/// made now. The folder and the file are their owner's only, a file put
/// there by other means included.
fn folder_secret(
    data: &Path,
    file: &str,
    encode: fn(&[u8; 32]) -> String,
) -> Result<(String, bool), String> {
    let path = data.join(file);
    private_folder(data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    if let Ok(existing) = std::fs::read_to_string(&path) {
        private_file(&path).map_err(|e| format!("cannot protect {}: {e}", path.display()))?;
        return Ok((existing.trim().to_owned(), false));
    }
    let mut bytes = [0u8; 32];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut bytes)
        .map_err(|e| e.to_string())?;
    let secret = encode(&bytes);
    write_private(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((secret, true))
}

const SEALING_KEY_FILE: &str = "webhook-sealing-key";

/// The key that seals webhooks' signing secrets: `KEYWARD_WEBHOOK_SEALING_KEY`,
/// or one kept in the data folder (made on first use), beside the database
/// whose secrets it seals.
fn webhook_sealing_key(data: &Path) -> Result<SealingKey, String> {
    if std::env::var_os(SEALING_KEY_VAR).is_some() {
        return SealingKey::from_env().map_err(|e| e.to_string());
    }
    let (text, _) = folder_secret(data, SEALING_KEY_FILE, |bytes| {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
    })?;
    SealingKey::from_base64(&text)
        .map_err(|e| format!("{}: {e}", data.join(SEALING_KEY_FILE).display()))
}

/// The secret a running server checks tokens with: `KEYWARD_JWT_SECRET`, or
/// the development secret `serve` made in the data folder. `token` makes
/// none: a new one would sign tokens the server refuses.
fn existing_jwt_secret(data: &Path) -> Result<Vec<u8>, String> {
    if std::env::var_os("KEYWARD_JWT_SECRET").is_some() {
        return jwt_secret(data).map(|(secret, _)| secret);
    }
    let path = data.join(DEV_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(existing) => Ok(existing.trim().as_bytes().to_vec()),
        Err(_) => Err(format!(
            "no KEYWARD_JWT_SECRET and no development secret at {}: run `keyward serve --data {}` first (it makes one), or set KEYWARD_JWT_SECRET to the server's",
            path.display(),
            data.display()
        )),
    }
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(content.as_bytes())
}

async fn create_table(table: &str) -> Result<(), String> {
    keyward::backend::create_table(table).await?;
    println!("keyward: made the DynamoDB table {table}");
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    args.config.validate()?;
    args.limits.connection_cap()?;
    if args.store.store == StoreKind::Dynamodb {
        // A container's folder does not outlive it: no secret is made.
        if args.jwks.is_none() && std::env::var_os("KEYWARD_JWT_SECRET").is_none() {
            return Err(
                "--store dynamodb needs KEYWARD_JWT_SECRET or --jwks: a development secret in the data folder would not outlive the container".into(),
            );
        }
        if std::env::var_os(SEALING_KEY_VAR).is_none() {
            return Err(format!(
                "--store dynamodb needs {SEALING_KEY_VAR}: every server sharing the table must seal webhook secrets with the same key"
            ));
        }
    }
    let backend = Backend::open(&args.store, &args.data.data).await?;
    let (verifier, dev_secret) = match &args.jwks {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (JwtVerifier::from_jwks(&json)?, None)
        }
        None => {
            let (secret, is_dev) = jwt_secret(&args.data.data)?;
            (JwtVerifier::hs256(&secret), is_dev.then_some(secret))
        }
    };
    let verifier =
        verifier.with_issuer_and_audience(args.jwt_issuer.clone(), args.jwt_audience.clone());
    let account_claim = args.config.account_claim.clone();
    let allow_insecure = args.config.webhook_allow_insecure;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sealing = Arc::new(webhook_sealing_key(&args.data.data)?);
    let mut service = Service::new(
        backend.store.clone(),
        args.config,
        clock.clone(),
        backend.notices.clone(),
    )
    .with_webhook_sealing(sealing.clone());
    if let Some(setting) = args.github_scanning_keys.as_deref() {
        service = service.with_github_keys(Arc::new(GithubKeyring::from_setting(setting)?));
    }
    let service = Arc::new(service);
    if allow_insecure {
        eprintln!(
            "keyward: KEYWARD_WEBHOOK_ALLOW_INSECURE is set: webhooks may use http and loopback (development only)"
        );
    }
    // Events committed while no server ran are delivered now. On DynamoDB
    // the table's stream is the outbox, and deliver-events reads it.
    let deliverer = if let (true, Some(store)) = (args.deliver_events, backend.sqlite.clone()) {
        let sender = Sender::new(Arc::new(SystemResolver), allow_insecure, ATTEMPT_TIMEOUT)
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        let deliverer = Arc::new(Deliverer::new(
            store.clone(),
            sender,
            sealing,
            clock.clone(),
        ));
        Some(LocalOutbox::new(store, deliverer).spawn())
    } else {
        eprintln!(
            "keyward: no webhook deliveries from this process (KEYWARD_DELIVER_EVENTS is false, or the store is DynamoDB, whose stream deliver-events reads)"
        );
        None
    };
    let state = AppState {
        service: service.clone(),
        auth: Arc::new(BearerJwt {
            verifier,
            account_claim: account_claim.clone(),
        }),
        verify_failures: FailedVerificationLimit::new(
            args.verify_failure_limit,
            Duration::from_secs(args.verify_failure_window_seconds),
        )
        .map(Arc::new),
    };
    let listener = tokio::net::TcpListener::bind(args.addr.as_str())
        .await
        .map_err(|e| format!("cannot listen on {} (KEYWARD_ADDR, --addr): {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("keyward listening on http://{addr}");
    if let Some(secret) = dev_secret {
        let permissions: Vec<String> = auth::perm::ALL.iter().map(|p| p.to_string()).collect();
        let token = auth::issue_token(
            &secret,
            &TokenRequest {
                // The README's user and account: the console shows what
                // its walk-through makes.
                sub: "alice",
                account: "acme",
                account_claim: &account_claim,
                permissions: &permissions,
                mfa: true,
                ttl_seconds: 12 * 3600,
                now: clock.now(),
            },
        )?;
        println!(
            "keyward: no KEYWARD_JWT_SECRET or --jwks given, so tokens are signed with the development secret in {}.\n\
             A 12-hour all-permissions development token (user alice, account acme, as in the README):\n{token}\n\
             More: keyward token --data {} --sub USER --account ACCOUNT --all",
            args.data.data.join(DEV_SECRET_FILE).display(),
            args.data.data.display()
        );
        // The fragment never reaches the server or a log; the console takes
        // the token from it and removes it from the address bar.
        println!(
            "keyward: the console, signed in with that token: http://{}/#token={token}",
            console_addr(addr)
        );
    }
    // Uses noted by verifications are written here, off the answer's path.
    let flusher = service.spawn_usage_flusher();
    // The peer address is the source the failed-verification limit counts.
    let app = console::with_cors(router(state, None), args.cors_origins);
    keyward::serve::serve(listener, app, &args.limits, shutdown_signal()).await?;
    flusher.abort();
    if let Some(deliverer) = deliverer {
        deliverer.abort();
    }
    eprintln!("keyward: stopped; every answered request's change is committed");
    let _ = service.flush_usage().await;
    Ok(())
}

async fn healthcheck(args: HealthcheckArgs) -> Result<(), String> {
    let addr = tokio::net::lookup_host(args.addr.as_str())
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{} is not a host:port address", args.addr))?;
    let url = format!("http://{}/healthz", console_addr(addr));
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .tls_built_in_root_certs(false)
        .build()
        .map_err(|e| e.to_string())?
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", keyward::error::chain(&e)))?;
    match answer.status() {
        reqwest::StatusCode::OK => Ok(()),
        status => Err(format!("{url} answered {status}")),
    }
}

/// Where a browser on this machine reaches the server: a wildcard listen
/// address becomes loopback.
fn console_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn token(args: TokenArgs) -> Result<(), String> {
    if std::env::var_os("KEYWARD_JWKS").is_some() {
        return Err(
            "keyward token signs HS256 tokens; with a JWKS, get tokens from your identity provider"
                .into(),
        );
    }
    let secret = existing_jwt_secret(&args.data.data)?;
    let mut permissions: Vec<String> = args
        .permissions
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if args.all {
        permissions.extend(auth::perm::ALL.iter().map(|p| p.to_string()));
    }
    for p in &permissions {
        if !wasm_validator::is_valid_scope(p) {
            return Err(format!("{p:?} is not a valid permission"));
        }
    }
    let token = auth::issue_token(
        &secret,
        &TokenRequest {
            sub: &args.sub,
            account: &args.account,
            account_claim: &args.account_claim,
            permissions: &permissions,
            mfa: args.mfa,
            ttl_seconds: args.ttl,
            now: SystemClock.now(),
        },
    )?;
    println!("{token}");
    Ok(())
}

async fn notify_expiring(args: NotifyArgs) -> Result<(), String> {
    args.config.validate()?;
    let backend = Backend::open(&args.store, &args.data.data).await?;
    let service = Service::new(
        backend.store,
        args.config,
        Arc::new(SystemClock),
        backend.notices,
    );
    let report = service
        .notify_expiring()
        .await
        .map_err(|e| keyward::error::chain(&e))?;
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// The `KEYWARD_*` variable whose value `error` is about, when the value
/// came from it rather than from a flag on the command line.
fn variable_behind(error: &clap::Error) -> Option<String> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg
        .split_whitespace()
        .next()?
        .strip_prefix("--")?
        .to_owned();
    if std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}="))) {
        return None;
    }
    fn find(command: &clap::Command, long: &str) -> Option<String> {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .or_else(|| command.get_subcommands().find_map(|c| find(c, long)))
    }
    let variable = find(&Cli::command(), &long)?;
    std::env::var_os(&variable).map(|_| variable)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            if let Some(variable) = variable_behind(&error) {
                // clap names the flag; the value came from the environment.
                eprint!("keyward: in {variable}: {}", error.render());
                return ExitCode::from(2);
            }
            error.exit()
        }
    };
    if let Err(message) = keyward::logging::init_local() {
        eprintln!("keyward: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyward: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Token(args) => token(args),
        Command::NotifyExpiring(args) => runtime.block_on(notify_expiring(args)),
        Command::Dynamodb(DynamodbCommand::CreateTable { table }) => {
            runtime.block_on(create_table(&table))
        }
        // Health checks read 1 as unhealthy (Docker reserves 2).
        Command::Healthcheck(args) => {
            return match runtime.block_on(healthcheck(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("keyward: unhealthy: {message}");
                    ExitCode::from(1)
                }
            };
        }
        // Its own exit statuses (`keyward::cli::exit`): 1 refused, 3 unavailable.
        Command::Manage(manage) => {
            return runtime.block_on(keyward::cli::run(
                manage,
                <Cli as clap::CommandFactory>::command,
            ));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward: {message}");
            ExitCode::from(2)
        }
    }
}
