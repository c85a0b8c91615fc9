//! An unknown key id against a known id with a wrong secret (BENCHMARKS.md,
//! "Store"): a verifier must not tell them apart. Each pair of calls is
//! timed back to back in a random order, so both distributions share the
//! machine's noise; reported are their percentiles, the ratio of medians
//! and how many `get_key` calls of each kind read SQLite rather than the
//! key cache.
//!
//! Two rounds: a quiet one, and one flooded with fresh random ids between
//! the pairs, which empties the cache at its bound now and then (both kinds
//! alike, so both then pay a SQLite read).

use super::{Bench, KEYS, request, runtime, setup};
use keyward::service::VerifyRequest;
use std::time::{Duration, Instant};
use wasm_validator::VerdictCode;

/// The same well-formed key with another secret.
fn with_wrong_secret(key: &str, seed: u8) -> String {
    let (prefix, body) = key.split_once('_').expect("a prefix");
    let id = wasm_validator::base62::decode(&body[..22], 16).expect("a key id");
    let id: [u8; 16] = id.try_into().expect("16 bytes");
    wasm_validator::key::format_key(prefix, &id, &[seed; 32]).1
}

fn random_key(prefix: &str) -> String {
    wasm_validator::key::format_key(prefix, &rand::random(), &rand::random()).1
}

struct Round {
    known: Vec<Duration>,
    unknown: Vec<Duration>,
    known_reads: u64,
    unknown_reads: u64,
}

/// The probes: each key with a wrong secret, as many unknown ids.
struct Probes {
    known: Vec<VerifyRequest>,
    unknown: Vec<VerifyRequest>,
}

fn probes(bench: &Bench) -> Probes {
    let prefix = bench.keys[0].1.split_once('_').expect("a prefix").0;
    Probes {
        known: (bench.keys.iter().enumerate())
            .map(|(i, (_, key))| request(&with_wrong_secret(key, i as u8)))
            .collect(),
        unknown: (0..KEYS).map(|_| request(&random_key(prefix))).collect(),
    }
}

/// `pairs` pairs over the probes, with `flood` fresh random ids verified
/// (not timed) before each pair.
async fn round(bench: &Bench, probes: &Probes, pairs: usize, flood: usize) -> Round {
    let prefix = bench.keys[0].1.split_once('_').expect("a prefix").0;
    let mut r = Round {
        known: Vec::with_capacity(pairs),
        unknown: Vec::with_capacity(pairs),
        known_reads: 0,
        unknown_reads: 0,
    };
    for i in 0..pairs {
        for _ in 0..flood {
            bench
                .service
                .verify(&request(&random_key(prefix)))
                .await
                .expect("verify");
        }
        let (k, u) = (&probes.known[i % KEYS], &probes.unknown[i % KEYS]);
        let time = async |probe: &VerifyRequest| {
            let reads = bench.sqlite.key_reads();
            let at = Instant::now();
            let verdict = bench.service.verify(probe).await.expect("verify answers");
            let took = at.elapsed();
            assert_eq!(verdict.code, VerdictCode::NotFound);
            (took, bench.sqlite.key_reads() - reads)
        };
        let ((kt, kr), (ut, ur)) = if rand::random::<bool>() {
            let k = time(k).await;
            (k, time(u).await)
        } else {
            let u = time(u).await;
            (time(k).await, u)
        };
        r.known.push(kt);
        r.unknown.push(ut);
        r.known_reads += kr;
        r.unknown_reads += ur;
    }
    r
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let at = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
    sorted[at].as_secs_f64() * 1e6
}

/// Prints both distributions of a quiet and a flooded round.
pub fn compare(pairs: usize, flood: usize) {
    let rt = runtime();
    let bench = rt.block_on(setup());
    let probes = probes(&bench);
    println!(
        "\nService::verify on SQLite, a known id with a wrong secret against an unknown id: \
         {pairs} pairs each timed back to back in a random order, over {KEYS} probes of each kind"
    );
    println!(
        "| round | probe | p10 µs | p50 µs | p90 µs | p99 µs | SQLite reads | p50 unknown / known |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    rt.block_on(async {
        round(&bench, &probes, KEYS * 2, 0).await; // warm-up: every probe read once
        for (name, flood) in [("quiet", 0), ("flooded", flood)] {
            let mut r = round(&bench, &probes, pairs, flood).await;
            if flood == 0 {
                // After the warm-up both kinds are answered by the cache.
                assert_eq!((r.known_reads, r.unknown_reads), (0, 0));
            }
            r.known.sort();
            r.unknown.sort();
            let ratio = percentile(&r.unknown, 0.5) / percentile(&r.known, 0.5);
            for (probe, times, reads) in [
                ("known id, wrong secret", &r.known, r.known_reads),
                ("unknown id", &r.unknown, r.unknown_reads),
            ] {
                println!(
                    "| {name}{} | {probe} | {:.2} | {:.2} | {:.2} | {:.2} | {reads} | {ratio:.3} |",
                    if flood > 0 {
                        format!(" ({flood} random ids before each pair)")
                    } else {
                        String::new()
                    },
                    percentile(times, 0.1),
                    percentile(times, 0.5),
                    percentile(times, 0.9),
                    percentile(times, 0.99),
                );
            }
        }
    });
}
