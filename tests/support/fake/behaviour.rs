//! Opt-in behaviours of the fake cloud, all off by default: EC2's token
//! buckets, per-request latencies, a model of the SDK's retries, and counters.
//!
//! Throttling follows the EC2 documentation ("Request throttling for the
//! Amazon EC2 API"): every request takes one token from its API's request
//! bucket; StopInstances and StartInstances also take one token per instance
//! from a resource bucket. A request that finds too few tokens in either
//! bucket is refused whole with `RequestLimitExceeded` and takes no token.
//! Buckets start full (an idle account) and refill continuously.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// Capacity, and the level of a fresh bucket.
    pub burst: f64,
    /// Tokens added per second.
    pub per_sec: f64,
}

/// The documented limits of one API: its request bucket and, for mutating
/// instance APIs, its resource (instances) bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiLimits {
    /// One token per request.
    pub requests: BucketSpec,
    /// One token per instance in the request.
    pub instances: Option<BucketSpec>,
}

const fn bucket(burst: f64, per_sec: f64) -> BucketSpec {
    BucketSpec { burst, per_sec }
}

/// StopInstances: 50 requests burst, 5/s; 1000 instances burst, 20/s.
pub const STOP_LIMITS: ApiLimits = ApiLimits {
    requests: bucket(50.0, 5.0),
    instances: Some(bucket(1000.0, 20.0)),
};
/// StartInstances: 5 requests burst, 2/s; 1000 instances burst, 2/s.
pub const START_LIMITS: ApiLimits = ApiLimits {
    requests: bucket(5.0, 2.0),
    instances: Some(bucket(1000.0, 2.0)),
};
/// DescribeInstances (and, in this model, DescribeInstanceStatus): 100 burst, 20/s.
pub const DESCRIBE_LIMITS: ApiLimits = ApiLimits {
    requests: bucket(100.0, 20.0),
    instances: None,
};
/// EC2's documented buckets for the APIs a large run is throttled on.
pub const EC2_LIMITS: &[(&str, ApiLimits)] = &[
    ("StopInstances", STOP_LIMITS),
    ("StartInstances", START_LIMITS),
    ("DescribeInstances", DESCRIBE_LIMITS),
    ("DescribeInstanceStatus", DESCRIBE_LIMITS),
];

/// The latency of one request: `base + per_instance * n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Whatever the request's size.
    pub base: Duration,
    /// Per instance (or type) in the request or page.
    pub per_instance: Duration,
}

impl Latency {
    /// `base` milliseconds plus `per_instance_us` microseconds per instance.
    pub const fn ms(base: u64, per_instance_us: u64) -> Self {
        Self {
            base: Duration::from_millis(base),
            per_instance: Duration::from_micros(per_instance_us),
        }
    }

    /// For a request carrying `n` instances.
    pub fn of(&self, n: usize) -> Duration {
        self.base + self.per_instance * n as u32
    }
}

/// How long each kind of request takes to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// Each DescribeInstances page, DescribeInstanceTypes,
    /// DescribeInstanceCreditSpecifications.
    pub describe: Latency,
    /// StopInstances, StartInstances, ModifyInstanceAttribute,
    /// ModifyInstanceCreditSpecification.
    pub mutate: Latency,
    /// DescribeInstanceStatus.
    pub status: Latency,
    /// A request refused by a bucket or a scripted fault.
    pub refused: Latency,
    /// Each DynamoDB request.
    pub dynamodb: Latency,
    /// SNS Publish.
    pub publish: Latency,
    /// EventBridge PutEvents.
    pub events: Latency,
    /// SSM, S3 and STS requests.
    pub other: Latency,
}

impl Latencies {
    /// Assumed latencies (no published figures; chosen from typical
    /// observations of the APIs in one region).
    pub const TYPICAL: Latencies = Latencies {
        // A page of 1000: 400 ms.
        describe: Latency::ms(100, 300),
        // A batch of 500: 650 ms.
        mutate: Latency::ms(150, 1000),
        status: Latency::ms(100, 200),
        refused: Latency::ms(30, 0),
        dynamodb: Latency::ms(10, 0),
        publish: Latency::ms(40, 0),
        events: Latency::ms(40, 0),
        other: Latency::ms(50, 0),
    };

    /// The latency of one request of `op`.
    pub fn of(&self, op: &str) -> Latency {
        match op {
            "DescribeInstances" | "DescribeInstanceTypes" | "DescribeInstanceCreditSpecifications" => self.describe,
            "StopInstances" | "StartInstances" | "ModifyInstanceAttribute" | "ModifyInstanceCreditSpecification" => {
                self.mutate
            }
            "DescribeInstanceStatus" => self.status,
            "GetItem" | "PutItem" | "TransactWriteItems" => self.dynamodb,
            "Publish" => self.publish,
            "PutEvents" => self.events,
            _ => self.other,
        }
    }
}

/// How throttled requests are retried between the orchestrator and the
/// cloud, i.e. inside the AWS adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SdkRetry {
    /// None: the caller sees every throttling error (what the port contract
    /// describes).
    #[default]
    None,
    /// The SDK's standard retry as configured in `aws::ec2_retry()`: up to 6
    /// attempts, exponential backoff with full jitter from 200 ms, at most
    /// 10 s. (The adaptive mode's client-side rate limiter is not modelled.)
    Standard,
    /// Retried with backoff (2 s doubling to 15 s) until the deadline set by
    /// `FakeCloud::set_retry_deadline` would pass.
    UntilDeadline,
}

impl SdkRetry {
    /// The pause before attempt `attempt + 1` after a throttled attempt
    /// `attempt` (from 1), or `None` to give up.
    pub(super) fn pause(self, attempt: u32, jitter: &mut Jitter, deadline: Option<Instant>) -> Option<Duration> {
        match self {
            SdkRetry::None => None,
            SdkRetry::Standard => {
                let cap = (0.2 * 2f64.powi(attempt as i32 - 1)).min(10.0);
                (attempt < 6).then(|| Duration::from_secs_f64(cap * jitter.next()))
            }
            SdkRetry::UntilDeadline => {
                let pause = Duration::from_secs(2)
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(Duration::from_secs(15));
                let too_late = deadline.is_some_and(|end| Instant::now() + pause >= end);
                (!too_late).then_some(pause)
            }
        }
    }
}

/// A small deterministic generator for the SDK's full jitter.
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    spec: BucketSpec,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(spec: BucketSpec, now: Instant) -> Self {
        Self {
            spec,
            tokens: spec.burst,
            at: now,
        }
    }

    fn level(&mut self, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.spec.per_sec).min(self.spec.burst);
        self.at = now;
        self.tokens
    }
}

/// The live buckets of one API.
#[derive(Debug, Clone)]
pub struct TokenBuckets {
    requests: Bucket,
    instances: Option<Bucket>,
}

impl TokenBuckets {
    /// Full buckets at `now`.
    pub fn full(limits: ApiLimits, now: Instant) -> Self {
        Self {
            requests: Bucket::full(limits.requests, now),
            instances: limits.instances.map(|s| Bucket::full(s, now)),
        }
    }

    /// Takes the tokens of a request with `n` instances, or none when either
    /// bucket has too few (then the request is refused whole).
    pub fn take(&mut self, n: usize, now: Instant) -> bool {
        let fits_requests = self.requests.level(now) >= 1.0;
        let fits_instances = self.instances.as_mut().is_none_or(|b| b.level(now) >= n as f64);
        if !(fits_requests && fits_instances) {
            return false;
        }
        self.requests.tokens -= 1.0;
        if let Some(b) = self.instances.as_mut() {
            b.tokens -= n as f64;
        }
        true
    }

    /// Tokens now in the (request, instance) buckets.
    pub fn levels(&mut self, now: Instant) -> (f64, Option<f64>) {
        (self.requests.level(now), self.instances.as_mut().map(|b| b.level(now)))
    }
}

/// Counters for one API, per request (a paged call is several requests;
/// attempts the SDK model retries count separately).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpStats {
    /// Requests answered (admitted by the buckets, not failed by a fault).
    pub ok: u64,
    /// Requests refused with RequestLimitExceeded by a bucket.
    pub throttled: u64,
    /// Requests failed by a scripted fault.
    pub faulted: u64,
    /// Instances in answered requests.
    pub instances: u64,
    /// When the last answered request was answered.
    pub last_ok_at: Option<Instant>,
}

/// The opt-in behaviours and their live state, shared by all clones of a
/// fake cloud. The default is the plain fake: no buckets, no latency, no
/// retry, every call logged.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Token buckets per API; an API without is never throttled.
    pub buckets: HashMap<&'static str, TokenBuckets>,
    /// Per-request latencies; `None`: every call answers at once.
    pub latencies: Option<Latencies>,
    /// Retries of throttled requests inside the "adapter".
    pub retry: SdkRetry,
    /// When [`SdkRetry::UntilDeadline`] stops retrying.
    pub retry_deadline: Option<Instant>,
    /// Whether calls go to the call log (`false` for large simulations:
    /// every logged call keeps a copy of its ids).
    pub log_calls: bool,
    /// Counters per API.
    pub stats: BTreeMap<&'static str, OpStats>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            latencies: None,
            retry: SdkRetry::None,
            retry_deadline: None,
            log_calls: true,
            stats: BTreeMap::new(),
        }
    }
}

impl Behaviour {
    /// How long the answer to a request of `op` with `n` instances takes.
    pub fn latency(&self, op: &str, n: usize) -> Duration {
        self.latencies.map_or(Duration::ZERO, |l| l.of(op).of(n))
    }

    /// How long a refused request takes to answer.
    pub fn refused_latency(&self) -> Duration {
        self.latencies.map_or(Duration::ZERO, |l| l.refused.of(0))
    }
}
