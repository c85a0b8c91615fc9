//! Service configuration, from flags or `KEYWARD_*` variables.

use crate::leaks::LeakAction;
use clap::Args;

/// Limits and policies of the service. Every field has a flag and a
/// `KEYWARD_*` variable; the Lambda functions read the variables only.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Active applications allowed per account.
    #[arg(long, env = "KEYWARD_MAX_ACTIVE_APPLICATIONS", default_value_t = defaults::MAX_ACTIVE_APPLICATIONS, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_active_applications: u32,
    /// Active or disabled, unexpired keys allowed per application.
    #[arg(long, env = "KEYWARD_MAX_ACTIVE_KEYS", default_value_t = defaults::MAX_ACTIVE_KEYS, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_active_keys: u32,
    /// Validity of a key created without `expires_at`.
    #[arg(long, env = "KEYWARD_DEFAULT_VALIDITY_DAYS", default_value_t = defaults::DEFAULT_VALIDITY_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub default_validity_days: u32,
    /// Longest validity a key may be given.
    #[arg(long, env = "KEYWARD_MAX_VALIDITY_DAYS", default_value_t = defaults::MAX_VALIDITY_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub max_validity_days: u32,
    /// How long expired and revoked keys stay visible before the purge.
    #[arg(long, env = "KEYWARD_RETENTION_DAYS", default_value_t = defaults::RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub retention_days: u32,
    /// Enabling a disabled key needs `mfa` in the caller's `amr` claim.
    #[arg(long, env = "KEYWARD_REQUIRE_MFA_TO_ENABLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_mfa_to_enable: bool,
    /// The JWT claim that names the caller's account.
    #[arg(long, env = "KEYWARD_ACCOUNT_CLAIM", default_value = defaults::ACCOUNT_CLAIM)]
    pub account_claim: String,
    /// Keys expiring within this many days get a daily notice.
    #[arg(long, env = "KEYWARD_NOTICE_WINDOW_DAYS", default_value_t = defaults::NOTICE_WINDOW_DAYS, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub notice_window_days: u32,
    /// A key's `last_used_at` is written at most once per this many seconds
    /// (per process): coarser means fewer writes, which at scale cost more
    /// than the verifications' reads (BENCHMARKS.md, "Scale on paper").
    #[arg(long, env = "KEYWARD_USAGE_RESOLUTION_SECONDS", default_value_t = defaults::USAGE_RESOLUTION_SECONDS, value_parser = clap::value_parser!(u32).range(60..=86_400))]
    pub usage_resolution_seconds: u32,
    /// Webhook endpoints allowed per account.
    #[arg(long, env = "KEYWARD_MAX_WEBHOOKS", default_value_t = defaults::MAX_WEBHOOKS, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_webhooks: u32,
    /// Lets webhooks use `http` and loopback addresses: for development and
    /// tests only, never in production.
    #[arg(long, env = "KEYWARD_WEBHOOK_ALLOW_INSECURE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_insecure: bool,
    /// What happens to a live key reported leaked: revoke, disable or notify.
    #[arg(long, env = "KEYWARD_LEAK_ACTION", value_enum, default_value_t = LeakAction::Revoke)]
    pub leak_action: LeakAction,
    /// The daily job disables active keys unused for this many days, after
    /// a notice 7 days before (0: never; otherwise at least 8).
    #[arg(long, env = "KEYWARD_DISABLE_UNUSED_AFTER_DAYS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub disable_unused_after_days: u32,
}

pub const DAY: i64 = 86_400;
/// Longest grace period a regenerated key's predecessor may keep.
pub const MAX_GRACE_SECONDS: u64 = 7 * 86_400;
/// Idempotency records live this long.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = DAY;

impl Config {
    /// Checks relations between fields that flags alone cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.default_validity_days > self.max_validity_days {
            return Err(format!(
                "KEYWARD_DEFAULT_VALIDITY_DAYS ({}) exceeds KEYWARD_MAX_VALIDITY_DAYS ({})",
                self.default_validity_days, self.max_validity_days
            ));
        }
        if (1..=7).contains(&self.disable_unused_after_days) {
            return Err(format!(
                "KEYWARD_DISABLE_UNUSED_AFTER_DAYS ({}) must be 0 (off) or at least 8: the notice goes out 7 days before",
                self.disable_unused_after_days
            ));
        }
        if self.account_claim.trim().is_empty() {
            return Err("KEYWARD_ACCOUNT_CLAIM must not be empty".into());
        }
        Ok(())
    }

    /// The configuration from `KEYWARD_*` variables alone (Lambda functions).
    pub fn from_env() -> Result<Self, String> {
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            config: Config,
        }
        let parsed =
            <EnvOnly as clap::Parser>::try_parse_from(["keyward"]).map_err(|e| e.to_string())?;
        parsed.config.validate()?;
        Ok(parsed.config)
    }

    pub fn retention_seconds(&self) -> i64 {
        i64::from(self.retention_days) * DAY
    }
}

/// Every setting's default, named once: the flags and `Config::default()`
/// both use these.
pub mod defaults {
    pub const MAX_ACTIVE_APPLICATIONS: u32 = 10;
    pub const MAX_ACTIVE_KEYS: u32 = 10;
    pub const DEFAULT_VALIDITY_DAYS: u32 = 365;
    pub const MAX_VALIDITY_DAYS: u32 = 730;
    pub const RETENTION_DAYS: u32 = 30;
    pub const ACCOUNT_CLAIM: &str = "account";
    pub const NOTICE_WINDOW_DAYS: u32 = 14;
    pub const USAGE_RESOLUTION_SECONDS: u32 = 60;
    pub const MAX_WEBHOOKS: u32 = 10;
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_active_applications: defaults::MAX_ACTIVE_APPLICATIONS,
            max_active_keys: defaults::MAX_ACTIVE_KEYS,
            default_validity_days: defaults::DEFAULT_VALIDITY_DAYS,
            max_validity_days: defaults::MAX_VALIDITY_DAYS,
            retention_days: defaults::RETENTION_DAYS,
            require_mfa_to_enable: false,
            account_claim: defaults::ACCOUNT_CLAIM.into(),
            notice_window_days: defaults::NOTICE_WINDOW_DAYS,
            usage_resolution_seconds: defaults::USAGE_RESOLUTION_SECONDS,
            max_webhooks: defaults::MAX_WEBHOOKS,
            webhook_allow_insecure: false,
            leak_action: LeakAction::Revoke,
            disable_unused_after_days: 0,
        }
    }
}
