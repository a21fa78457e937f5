//! Fault injection for tests: fails HTTP requests to the storage service with a
//! given rate and kind, deterministically from a seed.
//!
//! Faults are injected inside the HTTP transport, below OpenDAL's service code, so an
//! injected 429 or 500 is a real HTTP response that the S3, WebDAV or Drive service
//! parses, a timeout is a request that never answers until the per-request timeout
//! fires, and a truncated body is a real response cut short. Local folders make no
//! HTTP requests and are never faulted.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

/// Environment variable with a fault plan, read only when the `fault-injection`
/// feature is enabled. Example: `rate=0.1,seed=7,kinds=all`.
pub const FAULTS_VAR: &str = "HAVEN_FAULTS";

/// A kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// HTTP 429 Too Many Requests (with `Retry-After` when the plan sets one).
    TooManyRequests,
    /// HTTP 500 Internal Server Error.
    ServerError,
    /// A request that gets no response until the per-request timeout fires.
    Timeout,
    /// The connection is reset before a response arrives.
    ConnectionReset,
    /// The response body ends after half its announced length.
    TruncatedBody,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::TooManyRequests,
        FaultKind::ServerError,
        FaultKind::Timeout,
        FaultKind::ConnectionReset,
        FaultKind::TruncatedBody,
    ];

    fn name(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::ServerError => "500",
            FaultKind::Timeout => "timeout",
            FaultKind::ConnectionReset => "reset",
            FaultKind::TruncatedBody => "truncated",
        }
    }
}

/// The storage operation an HTTP request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    Read,
    Write,
    List,
    Delete,
    Stat,
}

impl RequestClass {
    /// Classifies a request by method and query: `PROPFIND` and S3's `list-type` /
    /// `delimiter` queries are listings, S3's `POST ?delete` is a delete.
    pub fn of(method: &str, query: Option<&str>) -> RequestClass {
        let query = query.unwrap_or_default();
        let has_key = |key: &str| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some(key))
        };
        match method {
            "PROPFIND" => RequestClass::List,
            "GET" if has_key("list-type") || has_key("delimiter") || has_key("prefix") => {
                RequestClass::List
            }
            "GET" if query.contains("q=") && !query.contains("alt=media") => RequestClass::List,
            "GET" => RequestClass::Read,
            "HEAD" => RequestClass::Stat,
            "DELETE" => RequestClass::Delete,
            "POST" if has_key("delete") => RequestClass::Delete,
            _ => RequestClass::Write,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Which list requests a plan fails regardless of its rate, counted from 1 in the
/// order the transport sends them (retries included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFault {
    /// Only the n-th list request fails; its retry succeeds.
    At(u64),
    /// The n-th and every later list request fails, so retries run out.
    From(u64),
}

/// What to fail and how often.
///
/// Text form (as in `HAVEN_FAULTS`): comma-separated `key=value` pairs:
/// `rate=0.1` (probability per request), `seed=7`, `kinds=all` or a `+`-separated
/// subset of `429`, `500`, `timeout`, `reset`, `truncated`; `ops=all` or a subset of
/// `read+write+list+delete+stat`; `retry_after=N` (seconds, sent with each 429);
/// `list_fail_at=N` or `list_fail_from=N` (see [`ListFault`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    pub rate: f64,
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
    pub ops: Vec<RequestClass>,
    pub retry_after_secs: Option<u64>,
    pub list_fault: Option<ListFault>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            rate: 0.0,
            seed: 0,
            kinds: FaultKind::ALL.to_vec(),
            ops: vec![
                RequestClass::Read,
                RequestClass::Write,
                RequestClass::List,
                RequestClass::Delete,
                RequestClass::Stat,
            ],
            retry_after_secs: None,
            list_fault: None,
        }
    }
}

impl FromStr for FaultPlan {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut plan = FaultPlan::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("fault plan entry {pair:?} is not key=value"))?;
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{key}={v:?} is not a whole number"))
            };
            match key {
                "rate" => {
                    plan.rate = value
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or_else(|| format!("rate={value:?} must be a number from 0 to 1"))?
                }
                "seed" => plan.seed = number(value)?,
                "kinds" => plan.kinds = parse_kinds(value)?,
                "ops" => plan.ops = parse_ops(value)?,
                "retry_after" => plan.retry_after_secs = Some(number(value)?),
                "list_fail_at" => plan.list_fault = Some(ListFault::At(number(value)?.max(1))),
                "list_fail_from" => plan.list_fault = Some(ListFault::From(number(value)?.max(1))),
                other => {
                    return Err(format!(
                        "unknown fault plan key {other:?}; known keys are rate, seed, kinds, ops, \
                         retry_after, list_fail_at, list_fail_from"
                    ))
                }
            }
        }
        Ok(plan)
    }
}

fn parse_kinds(value: &str) -> Result<Vec<FaultKind>, String> {
    if value == "all" {
        return Ok(FaultKind::ALL.to_vec());
    }
    value
        .split('+')
        .map(|name| {
            FaultKind::ALL
                .into_iter()
                .find(|kind| kind.name() == name)
                .ok_or_else(|| format!("unknown fault kind {name:?}; use 429, 500, timeout, reset, truncated or all"))
        })
        .collect()
}

fn parse_ops(value: &str) -> Result<Vec<RequestClass>, String> {
    if value == "all" {
        return Ok(FaultPlan::default().ops);
    }
    value
        .split('+')
        .map(|name| match name {
            "read" => Ok(RequestClass::Read),
            "write" => Ok(RequestClass::Write),
            "list" => Ok(RequestClass::List),
            "delete" => Ok(RequestClass::Delete),
            "stat" => Ok(RequestClass::Stat),
            other => Err(format!(
                "unknown operation {other:?}; use read, write, list, delete, stat or all"
            )),
        })
        .collect()
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        write!(
            f,
            "rate={},seed={},kinds={}",
            self.rate,
            self.seed,
            kinds.join("+")
        )
    }
}

/// Decides, per request, whether to inject a fault. Decisions depend only on the
/// seed, the request (method, path and query) and how often that same request was
/// seen before, so concurrent requests in any order get the same decisions.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    plan: FaultPlan,
    key: [u8; 32],
    seen: Mutex<HashMap<String, u64>>,
    list_requests: Mutex<u64>,
}

impl FaultInjector {
    pub fn new(plan: FaultPlan) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&plan.seed.to_le_bytes());
        key[8..24].copy_from_slice(b"haven/v1/faults\0");
        Self {
            plan,
            key,
            seen: Mutex::new(HashMap::new()),
            list_requests: Mutex::new(0),
        }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Returns the fault to inject into this request, if any.
    pub fn decide(
        &self,
        method: &str,
        path_and_query: &str,
        class: RequestClass,
    ) -> Option<FaultKind> {
        if class == RequestClass::List {
            if let Some(rule) = self.plan.list_fault {
                let mut count = self.list_requests.lock().unwrap_or_else(|e| e.into_inner());
                *count += 1;
                let hit = match rule {
                    ListFault::At(n) => *count == n,
                    ListFault::From(n) => *count >= n,
                };
                if hit {
                    return Some(self.pick_kind(&[0xff; 8]));
                }
            }
        }
        if self.plan.rate <= 0.0 || !self.plan.ops.contains(&class) || self.plan.kinds.is_empty() {
            return None;
        }
        let request = format!("{method} {path_and_query}");
        let attempt = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let count = seen.entry(request.clone()).or_insert(0);
            *count += 1;
            *count
        };
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(request.as_bytes());
        hasher.update(&attempt.to_le_bytes());
        let hash = hasher.finalize();
        let bytes = hash.as_bytes();
        let roll =
            u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as f64 / u64::MAX as f64;
        if roll >= self.plan.rate {
            return None;
        }
        Some(self.pick_kind(&bytes[8..16]))
    }

    fn pick_kind(&self, bytes: &[u8]) -> FaultKind {
        let value = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        self.plan.kinds[(value % self.plan.kinds.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_parses_text_form() {
        let plan: FaultPlan = "rate=0.1,seed=7,kinds=all".parse().unwrap();
        assert_eq!(plan.rate, 0.1);
        assert_eq!(plan.seed, 7);
        assert_eq!(plan.kinds, FaultKind::ALL.to_vec());

        let plan: FaultPlan = "kinds=429+truncated,ops=list,list_fail_from=3,retry_after=2"
            .parse()
            .unwrap();
        assert_eq!(
            plan.kinds,
            vec![FaultKind::TooManyRequests, FaultKind::TruncatedBody]
        );
        assert_eq!(plan.ops, vec![RequestClass::List]);
        assert_eq!(plan.list_fault, Some(ListFault::From(3)));
        assert_eq!(plan.retry_after_secs, Some(2));
    }

    #[test]
    fn plan_rejects_bad_entries() {
        for bad in [
            "rate=2",
            "rate",
            "kinds=503",
            "ops=rename",
            "colour=red",
            "seed=-1",
        ] {
            let err = bad.parse::<FaultPlan>().unwrap_err();
            assert!(!err.is_empty(), "{bad} gave an empty error");
        }
    }

    #[test]
    fn decisions_repeat_for_same_seed() {
        let plan: FaultPlan = "rate=0.3,seed=11".parse().unwrap();
        let run = || {
            let injector = FaultInjector::new(plan.clone());
            (0..200)
                .map(|i| injector.decide("GET", &format!("/bucket/data/{i}"), RequestClass::Read))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let faults = first.iter().filter(|d| d.is_some()).count();
        assert!(
            (30..=90).contains(&faults),
            "{faults} faults in 200 requests at rate 0.3"
        );
    }

    #[test]
    fn retried_request_gets_a_fresh_decision() {
        let plan: FaultPlan = "rate=0.5,seed=3".parse().unwrap();
        let injector = FaultInjector::new(plan);
        let decisions: Vec<_> = (0..64)
            .map(|_| injector.decide("PUT", "/bucket/data/same", RequestClass::Write))
            .collect();
        assert!(decisions.iter().any(|d| d.is_some()));
        assert!(decisions.iter().any(|d| d.is_none()));
    }

    #[test]
    fn list_fail_at_hits_only_that_request() {
        let plan: FaultPlan = "list_fail_at=3,kinds=500".parse().unwrap();
        let injector = FaultInjector::new(plan);
        let decisions: Vec<_> = (0..5)
            .map(|_| injector.decide("GET", "/bucket?list-type=2", RequestClass::List))
            .collect();
        assert_eq!(
            decisions,
            vec![None, None, Some(FaultKind::ServerError), None, None]
        );
    }

    #[test]
    fn requests_are_classified() {
        assert_eq!(
            RequestClass::of("GET", Some("list-type=2&prefix=a")),
            RequestClass::List
        );
        assert_eq!(RequestClass::of("GET", None), RequestClass::Read);
        assert_eq!(RequestClass::of("PROPFIND", None), RequestClass::List);
        assert_eq!(RequestClass::of("PUT", None), RequestClass::Write);
        assert_eq!(
            RequestClass::of("POST", Some("delete")),
            RequestClass::Delete
        );
        assert_eq!(RequestClass::of("DELETE", None), RequestClass::Delete);
        assert_eq!(RequestClass::of("HEAD", None), RequestClass::Stat);
    }
}
