//! The simulated venue's latency model: how long an order takes to reach the matching engine
//! (order entry) and how long the engine's market data takes to reach a client (market data).
//!
//! Each path is `base + jitter`, the jitter drawn from a configured distribution with its own
//! seeded [`Rng`], so a run is reproducible. Market data keeps its order: a message is never
//! delivered before the one published ahead of it ([`LatencyModel::md_release`] is monotonic),
//! as on a TCP/WebSocket stream; order entry delays are independent per request (separate
//! connections may overtake each other, as they can on the real venue).
//!
//! Typical Binance numbers, for the defaults the Python venue uses: a colocated client in Tokyo sees
//! order entry of a few hundred microseconds to a few milliseconds; market data streams every
//! 100 ms (`@depth@100ms`) or in real time. The defaults are `0`: the simulation is instantaneous
//! unless asked otherwise.

use serde::Deserialize;

use super::flow::Rng;

/// A jitter distribution, in nanoseconds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Jitter {
    /// No jitter.
    None,
    /// Uniform in `[0, max_ns]`.
    Uniform {
        /// Upper bound.
        max_ns: u64,
    },
    /// Exponential with mean `mean_ns`.
    Exponential {
        /// Mean.
        mean_ns: u64,
    },
    /// Log-normal with median `median_ns` and log-space standard deviation `sigma` (the heavy
    /// right tail real networks show).
    LogNormal {
        /// Median.
        median_ns: u64,
        /// Shape.
        sigma: f64,
    },
}

impl Jitter {
    fn draw(&self, rng: &mut Rng) -> u64 {
        let v = match *self {
            Jitter::None => 0.0,
            Jitter::Uniform { max_ns } => (1.0 - rng.unit()) * max_ns as f64,
            Jitter::Exponential { mean_ns } => {
                if mean_ns == 0 {
                    0.0
                } else {
                    rng.exp(1.0 / mean_ns as f64)
                }
            }
            Jitter::LogNormal { median_ns, sigma } => {
                median_ns as f64 * (sigma * rng.normal()).exp()
            }
        };
        // Capped at an hour: a misconfigured sigma must not stall the venue forever.
        v.clamp(0.0, 3.6e12) as u64
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Jitter::LogNormal { sigma, .. } if !(sigma.is_finite() && sigma >= 0.0) => Err(
                format!("log-normal sigma must be finite and >= 0, got {sigma}"),
            ),
            _ => Ok(()),
        }
    }
}

/// One path's delay: constant part plus jitter.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PathDelay {
    /// Constant part, ns.
    pub base_ns: u64,
    /// Random part.
    pub jitter: Jitter,
}

impl PathDelay {
    /// No delay.
    pub const ZERO: PathDelay = PathDelay {
        base_ns: 0,
        jitter: Jitter::None,
    };
}

/// Order-entry and market-data delays of the simulated venue.
#[derive(Clone, Debug)]
pub struct LatencyModel {
    entry: PathDelay,
    market_data: PathDelay,
    rng: Rng,
    last_md_release: u64,
}

impl LatencyModel {
    /// A model with both paths given, jitter seeded with `seed`.
    pub fn new(entry: PathDelay, market_data: PathDelay, seed: u64) -> Result<Self, String> {
        entry.jitter.validate()?;
        market_data.jitter.validate()?;
        Ok(Self {
            entry,
            market_data,
            rng: Rng::new(seed ^ 0x6C61_7465_6E63_7921),
            last_md_release: 0,
        })
    }

    /// No delay anywhere.
    pub fn zero() -> Self {
        Self {
            entry: PathDelay::ZERO,
            market_data: PathDelay::ZERO,
            rng: Rng::new(0),
            last_md_release: 0,
        }
    }

    /// The order-entry delay of the next request, ns.
    pub fn entry_delay(&mut self) -> u64 {
        self.entry.base_ns + self.entry.jitter.draw(&mut self.rng)
    }

    /// When market data published at `now_ns` reaches the client: `now + delay`, but never before
    /// the previous message's release (order kept).
    pub fn md_release(&mut self, now_ns: u64) -> u64 {
        let t = now_ns + self.market_data.base_ns + self.market_data.jitter.draw(&mut self.rng);
        self.last_md_release = self.last_md_release.max(t);
        self.last_md_release
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_model_adds_nothing() {
        let mut m = LatencyModel::zero();
        assert_eq!(m.entry_delay(), 0);
        assert_eq!(m.md_release(5), 5);
    }

    #[test]
    fn seeded_and_bounded() {
        let p = PathDelay {
            base_ns: 1_000,
            jitter: Jitter::Uniform { max_ns: 500 },
        };
        let mut a = LatencyModel::new(p, p, 3).unwrap();
        let mut b = LatencyModel::new(p, p, 3).unwrap();
        for _ in 0..1000 {
            let (x, y) = (a.entry_delay(), b.entry_delay());
            assert_eq!(x, y);
            assert!((1_000..=1_500).contains(&x));
        }
    }

    #[test]
    fn market_data_keeps_its_order() {
        let p = PathDelay {
            base_ns: 100,
            jitter: Jitter::Exponential { mean_ns: 10_000 },
        };
        let mut m = LatencyModel::new(PathDelay::ZERO, p, 1).unwrap();
        let mut prev = 0;
        for t in 0..10_000u64 {
            let r = m.md_release(t * 10);
            assert!(r >= prev && r >= t * 10 + 100);
            prev = r;
        }
    }

    #[test]
    fn lognormal_median_is_the_configured_one() {
        let p = PathDelay {
            base_ns: 0,
            jitter: Jitter::LogNormal {
                median_ns: 1_000_000,
                sigma: 0.5,
            },
        };
        let mut m = LatencyModel::new(p, PathDelay::ZERO, 11).unwrap();
        let mut v: Vec<u64> = (0..20_001).map(|_| m.entry_delay()).collect();
        v.sort_unstable();
        let med = v[10_000] as f64;
        assert!((med / 1e6 - 1.0).abs() < 0.05, "{med}");
        let bad = Jitter::LogNormal {
            median_ns: 1,
            sigma: f64::NAN,
        };
        assert!(LatencyModel::new(
            PathDelay {
                base_ns: 0,
                jitter: bad
            },
            PathDelay::ZERO,
            0
        )
        .is_err());
    }
}
