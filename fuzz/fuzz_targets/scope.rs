//! Scope parsing and matching (`wasm_validator::scope`) on arbitrary text:
//! lines are scopes, the first a granted one, the second a required one,
//! the third a further scope, the rest a list of granted scopes.
//!
//! Invariants: nothing panics; a valid scope satisfies itself; matching
//! agrees with a separate, plain reading of the wildcard rules (a `*`
//! segment matches any one segment, a trailing `*` one or more); widening a
//! grant with a `*` never loses what it granted; matching is transitive;
//! `granted_by` is "any granted scope satisfies".
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasm_validator::scope::{MAX_SCOPE_LEN, granted_by, is_valid_scope, scope_satisfies};

/// The wildcard rules of docs/ARCHITECTURE.md, written plainly: a
/// second implementation to compare the allocation-free one against.
fn reference_satisfies(granted: &str, required: &str) -> bool {
    if granted == required {
        return true;
    }
    let granted: Vec<&str> = granted.split(':').collect();
    let required: Vec<&str> = required.split(':').collect();
    let segment_matches = |g: &str, r: &str| g == "*" || g == r;
    let (last, init) = granted.split_last().expect("split yields a segment");
    if *last == "*" {
        // A trailing `*` matches one or more remaining segments.
        required.len() >= granted.len()
            && init
                .iter()
                .zip(&required)
                .all(|(g, r)| segment_matches(g, r))
    } else {
        required.len() == granted.len()
            && granted
                .iter()
                .zip(&required)
                .all(|(g, r)| segment_matches(g, r))
    }
}

/// The plain reading of the grammar `[a-z0-9_.-]+(:[a-z0-9_.*-]+)*`.
fn reference_valid(scope: &str) -> bool {
    let first_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
    let mut segments = scope.split(':');
    let first = segments.next().unwrap_or_default();
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_LEN
        && !first.is_empty()
        && first.chars().all(first_char)
        && segments.all(|s| !s.is_empty() && s.chars().all(|c| first_char(c) || c == '*'))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let granted = lines[0];
    let required = lines.get(1).copied().unwrap_or("");
    let third = lines.get(2).copied().unwrap_or("");
    let list = lines.get(3..).unwrap_or_default();

    for scope in [granted, required, third] {
        let valid = is_valid_scope(scope);
        assert_eq!(valid, reference_valid(scope), "grammar of {scope:?}");
        if valid {
            assert!(scope_satisfies(scope, scope), "{scope:?} satisfies itself");
        }
    }

    let satisfies = scope_satisfies(granted, required);
    assert_eq!(
        satisfies,
        reference_satisfies(granted, required),
        "{granted:?} for {required:?}"
    );

    // Widening any later segment of a satisfying grant to `*` keeps it.
    if satisfies {
        let segments: Vec<&str> = granted.split(':').collect();
        for i in 1..segments.len() {
            let mut wider = segments.clone();
            wider[i] = "*";
            let wider = wider.join(":");
            assert!(
                scope_satisfies(&wider, required),
                "{wider:?} is wider than {granted:?}, which satisfies {required:?}"
            );
        }
    }

    // Transitive: what a grant satisfies, it passes on.
    if satisfies && scope_satisfies(required, third) {
        assert!(
            scope_satisfies(granted, third),
            "{granted:?} > {required:?} > {third:?}"
        );
    }

    let any = list.iter().any(|g| scope_satisfies(g, required));
    assert_eq!(granted_by(list.iter().copied(), required), any);
});
