//! Who is asking: bearer tokens from the configuration for the API, and cookie sessions
//! (signed in with a token) for the web pages. Tokens are compared by digest and never
//! logged; failed sign-ins are limited per client address and in total; sessions live in
//! memory, at most a few per token, so a restart signs everyone out.

use crate::config::{HttpConfig, Role, TokenConfig};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie: HttpOnly and SameSite=Strict, so other sites can neither read it nor
/// make the browser send it along with a forged form.
pub const SESSION_COOKIE: &str = "outcry_session";

/// Addresses whose failures are remembered before full buckets are forgotten.
const TRACKED_ADDRESSES: usize = 10_000;

/// The holder of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Every form of the session carries it; a POST without it is refused.
    pub csrf: String,
    expires: Instant,
}

/// Which limit refused a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The client address's own failures.
    Address,
    /// Everyone's failures together.
    Total,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::Total => "total",
        }
    }
}

/// The outcome of presenting a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known(Principal),
    /// No token matched; `exhausted` names a limit this failure used up.
    Unknown {
        exhausted: Option<Limit>,
    },
    /// Not checked at all: too many failures came before.
    Refused {
        limit: Limit,
        retry_after: Duration,
    },
}

/// Failures allowed in a burst, refilled evenly over a minute.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    left: f64,
    at: Instant,
}

impl Bucket {
    fn full(size: u32, now: Instant) -> Bucket {
        Bucket {
            left: f64::from(size),
            at: now,
        }
    }

    fn refill(&mut self, size: u32, now: Instant) {
        let per_second = f64::from(size) / 60.0;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.left = (self.left + elapsed * per_second).min(f64::from(size));
        self.at = now;
    }

    /// How long until one more failure is allowed; None when one is now.
    fn wait(&self, size: u32) -> Option<Duration> {
        (self.left < 1.0)
            .then(|| Duration::from_secs_f64((1.0 - self.left) * 60.0 / f64::from(size).max(1.0)))
    }
}

struct Failures {
    by_address: HashMap<IpAddr, Bucket>,
    total: Bucket,
}

pub struct Auth {
    tokens: Vec<([u8; 32], Principal)>,
    sessions: Mutex<HashMap<String, Session>>,
    session_ttl: Duration,
    sessions_per_token: usize,
    failures: Mutex<Failures>,
    per_address: u32,
    total: u32,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal without returning early, so timing tells nothing about where two digests differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The address failures are counted under: an IPv6 client usually holds a whole /64, so
/// its failures count together.
fn failure_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

impl Auth {
    /// Reads every token's secret from its environment variable.
    pub fn from_config(http: &HttpConfig, session_ttl: Duration) -> Result<Auth, String> {
        let tokens = http
            .tokens
            .iter()
            .enumerate()
            .map(|(i, token): (usize, &TokenConfig)| {
                let secret = token
                    .secret()
                    .map_err(|e| format!("http.tokens[{i}].token_env: {e}"))?;
                Ok((
                    digest(&secret),
                    Principal {
                        name: token.name.clone(),
                        role: token.role,
                    },
                ))
            })
            .collect::<Result<_, String>>()?;
        let now = Instant::now();
        Ok(Auth {
            tokens,
            sessions: Mutex::new(HashMap::new()),
            session_ttl,
            sessions_per_token: http.sessions_per_token.max(1),
            failures: Mutex::new(Failures {
                by_address: HashMap::new(),
                total: Bucket::full(http.sign_in_failures_total, now),
            }),
            per_address: http.sign_in_failures_per_address,
            total: http.sign_in_failures_total,
        })
    }

    pub fn by_token(&self, secret: &str) -> Option<Principal> {
        let wanted = digest(secret.trim());
        // Every entry is compared, so timing does not tell which one matched.
        self.tokens
            .iter()
            .fold(None, |found, (d, principal)| {
                if same(d, &wanted) {
                    Some(principal)
                } else {
                    found
                }
            })
            .cloned()
    }

    /// Checks a token from `client`, unless failures from it (or from everyone) used up
    /// their limit, in which case the token is not even looked at.
    pub fn check(&self, client: IpAddr, secret: &str) -> Verdict {
        let now = Instant::now();
        let key = failure_key(client);
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Failures { by_address, total } = &mut *failures;
        total.refill(self.total, now);
        let mut own = by_address
            .get(&key)
            .copied()
            .unwrap_or_else(|| Bucket::full(self.per_address, now));
        own.refill(self.per_address, now);
        if let Some(retry_after) = own.wait(self.per_address) {
            return Verdict::Refused {
                limit: Limit::Address,
                retry_after,
            };
        }
        if let Some(retry_after) = total.wait(self.total) {
            return Verdict::Refused {
                limit: Limit::Total,
                retry_after,
            };
        }
        if let Some(principal) = self.by_token(secret) {
            return Verdict::Known(principal);
        }
        own.left -= 1.0;
        total.left -= 1.0;
        let exhausted = if own.left < 1.0 {
            Some(Limit::Address)
        } else {
            (total.left < 1.0).then_some(Limit::Total)
        };
        if by_address.len() >= TRACKED_ADDRESSES {
            // Only addresses still paying for failures matter; a full bucket is the default.
            let (per_address, now) = (self.per_address, now);
            by_address.retain(|_, bucket| {
                bucket.refill(per_address, now);
                bucket.left < f64::from(per_address)
            });
        }
        by_address.insert(key, own);
        Verdict::Unknown { exhausted }
    }

    /// Opens a session for a principal whose token was checked; its oldest sessions end
    /// when it holds too many.
    pub fn sign_in(&self, principal: Principal) -> (String, Session) {
        let session = Session {
            principal,
            csrf: random_hex(),
            expires: Instant::now() + self.session_ttl,
        };
        let id = random_hex();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        let mut held: Vec<(Instant, String)> = sessions
            .iter()
            .filter(|(_, s)| s.principal.name == session.principal.name)
            .map(|(id, s)| (s.expires, id.clone()))
            .collect();
        if held.len() >= self.sessions_per_token {
            // Sessions last equally long, so the one expiring first is the oldest.
            held.sort();
            for (_, old) in &held[..=held.len() - self.sessions_per_token] {
                sessions.remove(old);
            }
        }
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    pub fn session(&self, id: &str) -> Option<Session> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    pub fn sign_out(&self, id: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(id);
    }

    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// Also accepts `secret` for `principal`: a token that lives only as long as this
    /// process (the demo's sign-in).
    pub fn with_token(mut self, secret: &str, principal: Principal) -> Auth {
        self.tokens.push((digest(secret.trim()), principal));
        self
    }

    /// A new secret, long and random enough to be a token.
    pub fn new_secret() -> String {
        random_hex()
    }
}

/// The Set-Cookie value for a session (`id` empty and `max_age` zero end it); `Secure`
/// when the browser reached us over https, so it never travels in clear.
pub fn session_cookie(id: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

impl Session {
    pub fn csrf_matches(&self, token: &str) -> bool {
        same(self.csrf.as_bytes(), token.as_bytes())
    }
}

/// The value of one cookie in a Cookie header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWER: &str = "9f2c4e7a1b8d3f6054c2a9e8d7b6f1a3";
    const LEAD: &str = "Qm7vT2xK9pL4wZ8rN3cF6hJ1yB5dG0sE";

    fn auth_with(http: HttpConfig) -> Auth {
        std::env::set_var("OUTCRY_AUTH_TEST_VIEWER", VIEWER);
        std::env::set_var("OUTCRY_AUTH_TEST_LEAD", LEAD);
        let tokens = [
            ("zhao", Role::Viewer, "VIEWER"),
            ("wang", Role::Lead, "LEAD"),
        ]
        .map(|(name, role, env)| TokenConfig {
            name: name.into(),
            role,
            token_env: format!("OUTCRY_AUTH_TEST_{env}"),
        });
        let http = HttpConfig {
            tokens: tokens.to_vec(),
            ..http
        };
        Auth::from_config(&http, Duration::from_secs(60)).unwrap()
    }

    fn auth() -> Auth {
        auth_with(HttpConfig::default())
    }

    fn lead() -> Principal {
        Principal {
            name: "wang".into(),
            role: Role::Lead,
        }
    }

    #[test]
    fn tokens_name_their_holder_and_roles_nest() {
        let auth = auth();
        let lead = auth.by_token(LEAD).unwrap();
        assert_eq!(lead.name, "wang");
        assert!(lead.may(Role::Viewer) && lead.may(Role::Lead) && !lead.may(Role::Operator));
        assert_eq!(auth.by_token(VIEWER).unwrap().role, Role::Viewer);
        assert_eq!(auth.by_token(&LEAD[1..]), None);
        assert_eq!(auth.by_token(""), None);
    }

    #[test]
    fn sessions_carry_a_csrf_token_and_end_on_sign_out() {
        let auth = auth();
        let (id, session) = auth.sign_in(lead());
        let (other, _) = auth.sign_in(lead());
        assert_ne!(id, other);
        let found = auth.session(&id).unwrap();
        assert!(found.csrf_matches(&session.csrf));
        assert!(!found.csrf_matches(""));
        assert!(!found.csrf_matches(&session.csrf[1..]));
        auth.sign_out(&id);
        assert!(auth.session(&id).is_none());
        assert!(auth.session(&other).is_some());
    }

    #[test]
    fn a_token_holds_a_few_sessions_and_signing_in_again_ends_the_oldest() {
        let auth = auth_with(HttpConfig {
            sessions_per_token: 3,
            ..HttpConfig::default()
        });
        let (viewer, _) = auth.sign_in(auth.by_token(VIEWER).unwrap());
        let ids: Vec<String> = (0..5).map(|_| auth.sign_in(lead()).0).collect();
        assert!(auth.session(&ids[0]).is_none() && auth.session(&ids[1]).is_none());
        assert!(ids[2..].iter().all(|id| auth.session(id).is_some()));
        assert!(auth.session(&viewer).is_some(), "another token's are kept");
    }

    #[test]
    fn failures_are_limited_per_address_and_in_total() {
        let auth = auth_with(HttpConfig {
            sign_in_failures_per_address: 3,
            sign_in_failures_total: 5,
            ..HttpConfig::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let unknown = |exhausted| Verdict::Unknown { exhausted };
        assert_eq!(auth.check(a, "wrong"), unknown(None));
        assert_eq!(auth.check(a, "wrong"), unknown(None));
        assert_eq!(auth.check(a, "wrong"), unknown(Some(Limit::Address)));
        // Not even a good token is looked at from there now.
        assert!(matches!(
            auth.check(a, LEAD),
            Verdict::Refused { limit: Limit::Address, retry_after } if retry_after <= Duration::from_secs(20)
        ));
        assert_eq!(auth.check(b, LEAD), Verdict::Known(lead()));
        assert_eq!(auth.check(b, "wrong"), unknown(None));
        assert_eq!(auth.check(b, "wrong"), unknown(Some(Limit::Total)));
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(matches!(
            auth.check(c, LEAD),
            Verdict::Refused {
                limit: Limit::Total,
                ..
            }
        ));
    }

    #[test]
    fn an_ipv6_client_counts_as_its_whole_slash_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(failure_key(one), failure_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(failure_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_missing_secret_names_the_entry() {
        let http = HttpConfig {
            tokens: vec![TokenConfig {
                name: "x".into(),
                role: Role::Operator,
                token_env: "OUTCRY_AUTH_TEST_UNSET".into(),
            }],
            ..HttpConfig::default()
        };
        let err = Auth::from_config(&http, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.starts_with("http.tokens[0].token_env"), "{err}");
    }

    #[test]
    fn cookies_are_found_by_name_and_made_secure_on_request() {
        let header = "a=1; outcry_session=abc; b=2";
        assert_eq!(cookie(header, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(header, "c"), None);
        let plain = session_cookie("abc", Duration::from_secs(60), false);
        assert_eq!(
            plain,
            "outcry_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        assert!(session_cookie("abc", Duration::from_secs(60), true).ends_with("; Secure"));
    }
}
