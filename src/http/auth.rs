//! Who is asking: bearer tokens from the configuration for the API, and cookie sessions
//! (signed in with a token) for the web pages. Tokens are compared by digest and never
//! logged; sessions live in memory, so a restart signs everyone out.

use crate::config::{Role, TokenConfig};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie: HttpOnly and SameSite=Strict, so other sites can neither read it nor
/// make the browser send it along with a forged form.
pub const SESSION_COOKIE: &str = "outcry_session";

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

pub struct Auth {
    tokens: Vec<([u8; 32], Principal)>,
    sessions: Mutex<HashMap<String, Session>>,
    session_ttl: Duration,
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

impl Auth {
    /// Reads every token's secret from its environment variable.
    pub fn from_config(tokens: &[TokenConfig], session_ttl: Duration) -> Result<Auth, String> {
        let tokens = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
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
        Ok(Auth {
            tokens,
            sessions: Mutex::new(HashMap::new()),
            session_ttl,
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

    /// Opens a session for the token's holder; None for an unknown token.
    pub fn sign_in(&self, secret: &str) -> Option<(String, Session)> {
        let principal = self.by_token(secret)?;
        let session = Session {
            principal,
            csrf: random_hex(),
            expires: Instant::now() + self.session_ttl,
        };
        let id = random_hex();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(id.clone(), session.clone());
        Some((id, session))
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

    fn auth() -> Auth {
        std::env::set_var("OUTCRY_AUTH_TEST_VIEWER", "viewer-secret-0123456789");
        std::env::set_var("OUTCRY_AUTH_TEST_LEAD", "lead-secret-0123456789");
        let tokens = [
            ("zhao", Role::Viewer, "VIEWER"),
            ("wang", Role::Lead, "LEAD"),
        ]
        .map(|(name, role, env)| TokenConfig {
            name: name.into(),
            role,
            token_env: format!("OUTCRY_AUTH_TEST_{env}"),
        });
        Auth::from_config(&tokens, Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn tokens_name_their_holder_and_roles_nest() {
        let auth = auth();
        let lead = auth.by_token("lead-secret-0123456789").unwrap();
        assert_eq!(lead.name, "wang");
        assert!(lead.may(Role::Viewer) && lead.may(Role::Lead) && !lead.may(Role::Operator));
        assert_eq!(
            auth.by_token("viewer-secret-0123456789").unwrap().role,
            Role::Viewer
        );
        assert_eq!(auth.by_token("lead-secret-012345678"), None);
        assert_eq!(auth.by_token(""), None);
    }

    #[test]
    fn sessions_carry_a_csrf_token_and_end_on_sign_out() {
        let auth = auth();
        assert!(auth.sign_in("wrong").is_none());
        let (id, session) = auth.sign_in("lead-secret-0123456789").unwrap();
        let (other, _) = auth.sign_in("lead-secret-0123456789").unwrap();
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
    fn a_missing_secret_names_the_entry() {
        let tokens = [TokenConfig {
            name: "x".into(),
            role: Role::Operator,
            token_env: "OUTCRY_AUTH_TEST_UNSET".into(),
        }];
        let err = Auth::from_config(&tokens, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.starts_with("http.tokens[0].token_env"), "{err}");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let header = "a=1; outcry_session=abc; b=2";
        assert_eq!(cookie(header, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(header, "c"), None);
    }
}
