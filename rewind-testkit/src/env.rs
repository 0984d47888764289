//! What a test reads from its environment: the sizes of its long variants
//! ([`env_usize`]; the default is the fast size `cargo test` runs) and the
//! seed of its random generator ([`Rng`]), printed so that a failure can be
//! replayed.

/// An environment variable as a number (`_` separators allowed), or
/// `default` when it is not set.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// A small deterministic random generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `REWIND_SEED`, or from the clock; prints the seed under
    /// `what` so that a failure can be replayed.
    pub fn from_env(what: &str) -> Rng {
        let seed = match std::env::var("REWIND_SEED") {
            Ok(s) => s.parse().expect("REWIND_SEED must be a u64"),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        eprintln!("[{what}] seed {seed} (replay with REWIND_SEED={seed})");
        Rng(seed)
    }

    /// Seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
