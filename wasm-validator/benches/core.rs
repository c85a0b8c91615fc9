//! Core, native (BENCHMARKS.md): the cost of verifying a presented key
//! against its record, next to the cost of a bare SHA-256 of the same key
//! string, measured in the same run.
//!
//!   cargo bench -p wasm-validator --bench core
//!
//! Criterion's figures first; then, because the machine is shared and a
//! ratio of two figures measured seconds apart is noisy, the ratios from
//! alternated rounds (hash, parse, validate, validate again, ...) in one
//! loop, median of the rounds. `cargo test --benches` runs each benchmark
//! once and one short round, as a smoke test.
//!
//! The goal is `validate` within 2x the bare hash. SHA-256 is the floor:
//! every verification must hash the key once. On x86_64 `sha2` picks its
//! SHA-NI code at run time when the CPU has it; the bench prints whether
//! it does, since the ratio means little without it.

use criterion::{Criterion, criterion_group};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;
use wasm_validator::key::{format_key, hash_key, parse, to_hex};
use wasm_validator::{
    AllowedIps, ApplicationStatus, KeyRecord, OwnerStatus, StoredKeyStatus, VerdictCode,
    parse_source_ip, validate, verdict_for,
};

const NOW: i64 = 1_800_000_000;

fn key_and_record() -> (String, KeyRecord) {
    let id: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
    let secret: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(71).wrapping_add(5));
    let (key_id, key) = format_key("acme", &id, &secret);
    let record = KeyRecord {
        key_id,
        application_id: "app_01JABCDEFGHJKMNPQRSTVWXYZ0".into(),
        account: "acct_1".into(),
        hash: to_hex(&hash_key(&key)),
        status: StoredKeyStatus::Active,
        expires_at: NOW + 86_400,
        revoke_at: None,
        scopes: vec!["sims:*".into(), "billing:read".into()],
        application_status: ApplicationStatus::Active,
        owner_status: OwnerStatus::Active,
        allowed_ips: AllowedIps::default(),
        metered: false,
    };
    (key, record)
}

/// The same record restricted to three blocks (two IPv4, one IPv6), and a
/// source address in the last IPv4 one: the IP check's whole cost, one
/// block short of its worst case for an IPv4 caller.
fn restricted(record: &KeyRecord) -> (KeyRecord, Option<IpAddr>) {
    let record = KeyRecord {
        allowed_ips: AllowedIps::parse(["2001:db8::/32", "10.0.0.0/8", "192.0.2.0/24"])
            .expect("valid blocks"),
        ..record.clone()
    };
    (record, parse_source_ip("192.0.2.77"))
}

fn sha_ni() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("sha") {
            "yes"
        } else {
            "no (sha2 uses its portable code)"
        }
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        "n/a (not x86)"
    }
}

fn core(c: &mut Criterion) {
    let (key, record) = key_and_record();
    eprintln!(
        "key: {} bytes (SHA-256 of 2 blocks); CPU has SHA-NI: {}",
        key.len(),
        sha_ni()
    );
    // The benchmarks below measure what they claim only if these hold.
    assert_eq!(
        validate(&key, Some(&record), &[], NOW, None).code,
        VerdictCode::Valid
    );
    assert_eq!(
        validate(&key, Some(&record), &["sims:read"], NOW, None).code,
        VerdictCode::Valid
    );

    let mut group = c.benchmark_group("core");
    group.bench_function("sha256(key) bare", |b| {
        b.iter(|| {
            let digest: [u8; 32] = Sha256::digest(black_box(key.as_str()).as_bytes()).into();
            digest
        })
    });
    group.bench_function("parse + checksum", |b| {
        b.iter(|| parse(black_box(key.as_str())).map(|p| p.key_id.len()))
    });
    group.bench_function("validate, no scope", |b| {
        b.iter(|| {
            validate(
                black_box(key.as_str()),
                Some(black_box(&record)),
                &[],
                NOW,
                None,
            )
        })
    });
    group.bench_function("validate, one scope", |b| {
        b.iter(|| {
            validate(
                black_box(key.as_str()),
                Some(black_box(&record)),
                &["sims:read"],
                NOW,
                None,
            )
        })
    });
    // The decision alone, the key already parsed: what the service adds
    // to its store read.
    let parsed = parse(&key).expect("a valid key");
    group.bench_function("verdict_for (parsed)", |b| {
        b.iter(|| verdict_for(black_box(&parsed), Some(black_box(&record)), &[], NOW, None))
    });
    // The IP check's cost: the same validation of an unrestricted record
    // and of one restricted to three blocks, from an allowed address.
    let (limited, source) = restricted(&record);
    assert_eq!(
        validate(&key, Some(&limited), &[], NOW, source).code,
        VerdictCode::Valid
    );
    group.bench_function("validate, no allowed_ips", |b| {
        b.iter(|| {
            validate(
                black_box(key.as_str()),
                Some(black_box(&record)),
                &[],
                NOW,
                black_box(source),
            )
        })
    });
    group.bench_function("validate, 3 allowed blocks, source in the third", |b| {
        b.iter(|| {
            validate(
                black_box(key.as_str()),
                Some(black_box(&limited)),
                &[],
                NOW,
                black_box(source),
            )
        })
    });
    let allowed = &limited.allowed_ips;
    group.bench_function(
        "allowed_ips.admits alone, 3 blocks, source in the third",
        |b| b.iter(|| black_box(allowed).admits(black_box(source))),
    );
    group.bench_function("validate, unknown key id", |b| {
        b.iter(|| validate(black_box(key.as_str()), None, &[], NOW, None))
    });
    group.finish();
}

/// Nanoseconds per call of `f`, over `calls` calls.
fn per_call(calls: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Hash, parse and validate timed in turn, round after round; prints the
/// median per call and the median of each round's ratio to the hash. Then
/// the IP check alone: validate of an unrestricted record and of one with
/// three blocks, alternated, and the median of the rounds' differences.
fn alternated_ratios(rounds: usize, calls: u32) {
    let (key, record) = key_and_record();
    let (limited, source) = restricted(&record);
    let key = key.as_str();
    let mut times: [Vec<f64>; 6] = Default::default();
    let mut ratios: [Vec<f64>; 3] = Default::default();
    let mut ip_costs = Vec::new();
    for _ in 0..rounds {
        let hash = per_call(calls, || {
            let digest: [u8; 32] = Sha256::digest(black_box(key).as_bytes()).into();
            black_box(digest);
        });
        let parse = per_call(calls, || {
            black_box(parse(black_box(key)).map(|p| p.key_id.len()).ok());
        });
        let plain = per_call(calls, || {
            black_box(validate(
                black_box(key),
                Some(black_box(&record)),
                &[],
                NOW,
                None,
            ));
        });
        let scoped = per_call(calls, || {
            black_box(validate(
                black_box(key),
                Some(black_box(&record)),
                &["sims:read"],
                NOW,
                None,
            ));
        });
        let open = per_call(calls, || {
            black_box(validate(
                black_box(key),
                Some(black_box(&record)),
                &[],
                NOW,
                black_box(source),
            ));
        });
        let ip = per_call(calls, || {
            black_box(validate(
                black_box(key),
                Some(black_box(&limited)),
                &[],
                NOW,
                black_box(source),
            ));
        });
        for (i, t) in [hash, parse, plain, scoped, open, ip]
            .into_iter()
            .enumerate()
        {
            times[i].push(t);
        }
        for (i, t) in [parse, plain, scoped].into_iter().enumerate() {
            ratios[i].push(t / hash);
        }
        ip_costs.push(ip - open);
    }
    let [hash, parse, plain, scoped, open, ip] = times.map(median);
    let [parse_ratio, plain_ratio, scoped_ratio] = ratios.map(median);
    println!(
        "\nalternated: {rounds} rounds x {calls} calls, median ns per call; ratio = median of the rounds' t / sha256"
    );
    println!("| call | ns per call | ÷ sha256 |\n| --- | ---: | ---: |");
    println!("| sha256(key) bare | {hash:.1} | 1.00 |");
    println!("| parse + checksum | {parse:.1} | {parse_ratio:.2} |");
    println!("| validate, no scope | {plain:.1} | {plain_ratio:.2} |");
    println!("| validate, one scope | {scoped:.1} | {scoped_ratio:.2} |");
    println!("goal: validate <= 2.00 x sha256; SHA-NI: {}", sha_ni());
    println!("\n| call | ns per call |\n| --- | ---: |");
    println!("| validate, no allowed_ips | {open:.1} |");
    println!("| validate, 3 allowed blocks, source in the third | {ip:.1} |");
    println!(
        "IP check: {:.1} ns (median of the rounds' differences); goal <= 20 ns",
        median(ip_costs)
    );
}

criterion_group!(benches, core);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // then one short round shows it runs.
    if std::env::args().any(|a| a == "--bench") {
        alternated_ratios(21, 200_000);
    } else {
        alternated_ratios(1, 100);
    }
}
