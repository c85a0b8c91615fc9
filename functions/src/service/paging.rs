//! Pages of small, fully read lists (applications, keys), ordered by
//! creation. Audit events and notices page in the store.

use crate::error::ApiError;
use crate::store::Page;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

pub const DEFAULT_PAGE_LIMIT: usize = 50;
pub const MAX_PAGE_LIMIT: usize = 100;

/// `?limit=&cursor=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size: default 50, capped at 100; 0 is refused.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            Some(0) => Err(ApiError::InvalidQuery("limit must be at least 1".into())),
            Some(n) => Ok(n.min(MAX_PAGE_LIMIT)),
            None => Ok(DEFAULT_PAGE_LIMIT),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for PageOf<T> {
    fn from(page: Page<T>) -> Self {
        PageOf {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

/// Pages a small, fully read list ordered by (created_at, id). The cursor
/// names the last item returned, so items removed meanwhile do not shift it.
pub(super) fn paginate<T>(
    mut items: Vec<T>,
    order: impl Fn(&T) -> (i64, String),
    query: &PageQuery,
) -> Result<PageOf<T>, ApiError> {
    let limit = query.limit()?;
    items.sort_by_key(&order);
    let after = match &query.cursor {
        None => None,
        Some(cursor) => Some(decode_cursor(cursor)?),
    };
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|a| order(item) > *a))
        .collect();
    let next_cursor = if rest.len() > limit {
        rest.truncate(limit);
        rest.last().map(|last| {
            let (at, id) = order(last);
            URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
        })
    } else {
        None
    };
    Ok(PageOf {
        items: rest,
        next_cursor,
    })
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| ApiError::InvalidCursor)?;
    let text = String::from_utf8(raw).map_err(|_| ApiError::InvalidCursor)?;
    let (at, id) = text.split_once(':').ok_or(ApiError::InvalidCursor)?;
    let at = at.parse::<i64>().map_err(|_| ApiError::InvalidCursor)?;
    Ok((at, id.to_owned()))
}
