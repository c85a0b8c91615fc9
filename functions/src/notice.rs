//! Notices to a key's creator: the key expires soon (the daily job), was
//! found leaked (`leaks`), or will be disabled as dormant. Stored for
//! `GET /notifications` and published (SNS in AWS, the log locally).

use crate::domain::{Key, rfc3339};
use serde::{Deserialize, Serialize};

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Expires within the notice window: one a day.
    #[default]
    Expiring,
    /// Reported leaked: once.
    Leaked,
    /// To be disabled as unused on `day`: once a dormant spell.
    Dormant,
}

/// One notice. Its id makes it once per what it is about: `<key id>:<day>`
/// for an expiring key (one a day), `<key id>:leaked:<when>`, and
/// `<key id>:dormant:<day it would be disabled>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    #[serde(default)]
    pub kind: NoticeKind,
    pub account: String,
    pub recipient: String,
    pub key_id: String,
    pub key_name: String,
    pub application_id: String,
    #[serde(with = "rfc3339")]
    pub expires_at: i64,
    pub days_left: i64,
    /// The UTC day it is about (`YYYY-MM-DD`): the day sent, for an expiry
    /// or a leak; the day of the disable, for a dormant key.
    pub day: String,
    /// Where a leaked key was found, when the report said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
}

const DAY: i64 = 86_400;

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Expiring => "expiring",
            NoticeKind::Leaked => "leaked",
            NoticeKind::Dormant => "dormant",
        }
    }
}

impl Notice {
    /// A notice of `kind` about `key` to its creator, written at `now`.
    pub fn about(key: &Key, kind: NoticeKind, now: i64) -> Notice {
        let day = rfc3339::format(now)
            .get(..10)
            .unwrap_or_default()
            .to_owned();
        let id = match kind {
            NoticeKind::Expiring => format!("{}:{day}", key.id),
            // Once per leak: a key enabled again may leak again.
            NoticeKind::Leaked => format!("{}:leaked:{now}", key.id),
            NoticeKind::Dormant => format!("{}:dormant:{day}", key.id),
        };
        Notice {
            id,
            kind,
            account: key.account.clone(),
            recipient: key.created_by.clone(),
            key_id: key.id.clone(),
            key_name: key.name.clone(),
            application_id: key.application_id.clone(),
            expires_at: key.expires_at,
            days_left: (key.expires_at - now + DAY - 1).div_euclid(DAY),
            day,
            url: None,
            created_at: now,
        }
    }

    pub fn with_url(mut self, url: Option<String>) -> Notice {
        self.url = url;
        self
    }

    /// The notice about `day` rather than today (a dormant key's disable).
    pub fn for_day(mut self, day: &str) -> Notice {
        if self.kind == NoticeKind::Dormant {
            self.id = format!("{}:dormant:{day}", self.key_id);
        }
        self.day = day.to_owned();
        self
    }

    /// A one-line subject for e-mail and SNS.
    pub fn subject(&self) -> String {
        match self.kind {
            NoticeKind::Expiring => format!(
                "keyward: key {} expires in {} days",
                self.key_name, self.days_left
            ),
            NoticeKind::Leaked => format!("keyward: key {} was found leaked", self.key_name),
            NoticeKind::Dormant => format!(
                "keyward: unused key {} will be disabled on {}",
                self.key_name, self.day
            ),
        }
    }
}
