//! Scopes and permissions: `resource:action` strings with `*` wildcards.
//!
//! Grammar: `[a-z0-9_.-]+(:[a-z0-9_.*-]+)*`. A granted scope satisfies a
//! required one segment by segment: a `*` segment matches any one segment,
//! and a trailing `*` segment matches one or more remaining segments, so
//! `sims:*` grants `sims:read` and `sims:read:eu`, but not `sims` itself.

pub const MAX_SCOPE_LEN: usize = 128;
pub const MAX_SCOPES: usize = 64;

fn first_segment_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
}

fn later_segment_char(c: u8) -> bool {
    first_segment_char(c) || c == b'*'
}

/// The `:`-separated segments of a scope, as bytes (a byte split: cheaper
/// than a `str` pattern search on strings this short).
fn segments(scope: &str) -> impl Iterator<Item = &[u8]> {
    scope.as_bytes().split(|&c| c == b':')
}

/// True when `scope` matches the scope grammar (and the length bound).
pub fn is_valid_scope(scope: &str) -> bool {
    if scope.is_empty() || scope.len() > MAX_SCOPE_LEN {
        return false;
    }
    let mut segments = segments(scope);
    let first = segments.next().unwrap_or_default();
    !first.is_empty()
        && first.iter().all(|&c| first_segment_char(c))
        && segments.all(|s| !s.is_empty() && s.iter().all(|&c| later_segment_char(c)))
}

/// True when `granted` satisfies `required`. Allocates nothing: the
/// WebAssembly validator runs this on every call that requires a scope.
pub fn scope_satisfies(granted: &str, required: &str) -> bool {
    if granted == required {
        return true;
    }
    let mut granted = segments(granted).peekable();
    let mut required = segments(required);
    while let Some(g) = granted.next() {
        let last = granted.peek().is_none();
        match required.next() {
            None => return false,
            Some(_) if g == b"*" && last => return true,
            Some(r) if g == b"*" || g == r => {}
            Some(_) => return false,
        }
    }
    required.next().is_none()
}

/// True when some granted scope satisfies `required`.
pub fn granted_by<'a>(granted: impl IntoIterator<Item = &'a str>, required: &str) -> bool {
    granted.into_iter().any(|g| scope_satisfies(g, required))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "sims",
            "sims:read",
            "sims:*",
            "a.b-c_d:e.f",
            "keys:view:any",
            "x:*:read",
            "0",
        ] {
            assert!(is_valid_scope(ok), "{ok}");
        }
        for bad in [
            "",
            "*",
            "*:read",
            "Sims:read",
            "sims:",
            ":read",
            "sims::read",
            "sims read",
            "sims:réad",
            "sims/read",
        ] {
            assert!(!is_valid_scope(bad), "{bad}");
        }
        assert!(!is_valid_scope(&"a".repeat(MAX_SCOPE_LEN + 1)));
    }

    #[test]
    fn equality_and_wildcards() {
        assert!(scope_satisfies("sims:read", "sims:read"));
        assert!(!scope_satisfies("sims:read", "sims:write"));
        assert!(scope_satisfies("sims:*", "sims:read"));
        assert!(scope_satisfies("sims:*", "sims:read:eu"));
        assert!(!scope_satisfies("sims:*", "sims"));
        assert!(!scope_satisfies("sims:*", "simsx:read"));
        assert!(!scope_satisfies("sims:*", "other:read"));
        assert!(scope_satisfies("keys:*:any", "keys:view:any"));
        assert!(!scope_satisfies("keys:*:any", "keys:view:own"));
        assert!(!scope_satisfies("keys:*:any", "keys:view"));
        assert!(!scope_satisfies("sims:read", "sims:read:eu"));
        assert!(!scope_satisfies("sims:read:eu", "sims:read"));
        // A required wildcard is not granted by a narrower scope.
        assert!(!scope_satisfies("sims:read", "sims:*"));
        assert!(scope_satisfies("sims:*", "sims:*"));
        assert!(granted_by(["a:b", "sims:*"], "sims:write"));
        assert!(!granted_by(["a:b"], "sims:write"));
    }
}
