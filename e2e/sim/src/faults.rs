//! Faults injected into one cluster, for tests of how clients cope with what real clusters
//! throw at them: 5xx, 429 with Retry-After, latency, closed watches, 410 Gone on a watch,
//! an unreachable server, revoked tokens. Request faults are scoped by verb, resource and
//! user, and last for the next N matching requests, hit a fraction of them, or both.
//!
//! Tests drive them through [`crate::SimCluster::faults`]; `hubspoke sim serve` users
//! through the admin-only endpoint `/hubspoke/faults` of each cluster (see [`Command`]).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::authn::User;
use crate::auth::authz::Attributes;

/// Which requests a fault applies to; empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// A resource (`configmaps`) or group/resource (`apps/deployments`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// A user name (`system:serviceaccount:ns:name`, `kubernetes-admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Scope {
    pub fn all() -> Self {
        Scope::default()
    }
    pub fn verb(mut self, v: &str) -> Self {
        self.verb = Some(v.into());
        self
    }
    pub fn resource(mut self, r: &str) -> Self {
        self.resource = Some(r.into());
        self
    }
    pub fn user(mut self, u: &str) -> Self {
        self.user = Some(u.into());
        self
    }

    fn matches(&self, user: &User, a: &Attributes) -> bool {
        self.verb.as_ref().is_none_or(|v| *v == a.verb)
            && self.user.as_ref().is_none_or(|u| *u == user.name)
            && self.resource.as_ref().is_none_or(|r| match r.split_once('/') {
                Some((g, res)) => a.resource_request && g == a.group && res == a.resource,
                None => a.resource_request && *r == a.resource,
            })
    }
}

/// What a request fault does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action", deny_unknown_fields)]
pub enum Effect {
    /// Answer with this status: 500 (InternalError) or 503 (ServiceUnavailable).
    Fail { code: u16 },
    /// Answer 429 TooManyRequests with Retry-After.
    Throttle { retry_after_seconds: u64 },
    /// Delay the request, then serve it.
    Latency { millis: u64 },
}

/// One active request fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestFault {
    #[serde(flatten)]
    pub effect: Effect,
    #[serde(default)]
    pub scope: Scope,
    /// How many more matching requests it hits (None: until cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The share of matching requests it hits (None: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
}

/// A command for the `/hubspoke/faults` endpoint (`POST`, JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action", deny_unknown_fields)]
pub enum Command {
    Fail {
        code: u16,
        #[serde(default)]
        scope: Scope,
        #[serde(default)]
        count: Option<u64>,
        #[serde(default)]
        fraction: Option<f64>,
    },
    Throttle {
        #[serde(rename = "retryAfterSeconds")]
        retry_after_seconds: u64,
        #[serde(default)]
        scope: Scope,
        #[serde(default)]
        count: Option<u64>,
        #[serde(default)]
        fraction: Option<f64>,
    },
    Latency {
        millis: u64,
        #[serde(default)]
        scope: Scope,
        #[serde(default)]
        count: Option<u64>,
        #[serde(default)]
        fraction: Option<f64>,
    },
    CloseWatches,
    ExpireNextWatch {
        #[serde(default)]
        scope: Scope,
        #[serde(default)]
        count: Option<u64>,
    },
    Unreachable {
        seconds: f64,
    },
    RevokeToken {
        token: String,
    },
    Clear,
}

/// The faults of one cluster.
pub struct Faults {
    revoked: Mutex<HashSet<String>>,
    requests: Mutex<Vec<RequestFault>>,
    /// Watches whose next start gets 410: (scope, remaining).
    expire_watches: Mutex<Vec<(Scope, u64)>>,
    /// Bumped to close every open watch.
    watch_epoch: tokio::sync::watch::Sender<u64>,
    /// Asks the listener to go away for a while.
    outage: tokio::sync::watch::Sender<Option<Duration>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            revoked: Mutex::default(),
            requests: Mutex::default(),
            expire_watches: Mutex::default(),
            watch_epoch: tokio::sync::watch::channel(0).0,
            outage: tokio::sync::watch::channel(None).0,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    /// From now on `token` is rejected (401) as if it had been revoked.
    pub fn revoke(&self, token: &str) {
        lock(&self.revoked).insert(token.to_string());
    }

    pub fn is_revoked(&self, token: &str) -> bool {
        let r = lock(&self.revoked);
        !r.is_empty() && r.contains(token)
    }

    /// Adds a request fault.
    pub fn inject(&self, fault: RequestFault) {
        lock(&self.requests).push(fault);
    }

    /// The active request faults.
    pub fn active(&self) -> Vec<RequestFault> {
        lock(&self.requests).clone()
    }

    /// Ends every open watch stream (clients see the stream end, as on a dropped connection).
    pub fn close_watches(&self) {
        self.watch_epoch.send_modify(|e| *e += 1);
    }

    pub fn watch_epoch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }

    /// The next `count` watches matching `scope` get 410 Expired.
    pub fn expire_next_watches(&self, scope: Scope, count: u64) {
        lock(&self.expire_watches).push((scope, count));
    }

    /// Whether this watch start must get 410 (and counts it).
    pub fn take_watch_expiry(&self, user: &User, a: &Attributes) -> bool {
        let mut g = lock(&self.expire_watches);
        let hit = g.iter_mut().find(|(s, n)| *n > 0 && s.matches(user, a));
        match hit {
            Some((_, n)) => {
                *n -= 1;
                g.retain(|(_, n)| *n > 0);
                true
            }
            None => false,
        }
    }

    /// Closes the listener and drops connections for `d`; the same port serves again after.
    pub fn unreachable_for(&self, d: Duration) {
        self.outage.send_replace(Some(d));
    }

    pub fn outages(&self) -> tokio::sync::watch::Receiver<Option<Duration>> {
        self.outage.subscribe()
    }

    /// Removes every fault (revoked tokens stay revoked).
    pub fn clear(&self) {
        lock(&self.requests).clear();
        lock(&self.expire_watches).clear();
    }

    /// The effect to apply to this request, if a fault hits it.
    pub fn on_request(&self, user: &User, a: &Attributes) -> Option<Effect> {
        let mut g = lock(&self.requests);
        if g.is_empty() {
            return None;
        }
        let mut hit = None;
        for f in g.iter_mut() {
            if f.count == Some(0) || !f.scope.matches(user, a) {
                continue;
            }
            if let Some(p) = f.fraction
                && rand::random::<f64>() >= p
            {
                continue;
            }
            if let Some(n) = f.count.as_mut() {
                *n -= 1;
            }
            hit = Some(f.effect.clone());
            break;
        }
        g.retain(|f| f.count != Some(0));
        hit
    }

    /// Carries out a command of the `/hubspoke/faults` endpoint.
    pub fn apply(&self, c: Command) -> Result<(), String> {
        let check_fraction = |f: Option<f64>| match f {
            Some(p) if !(0.0..=1.0).contains(&p) => {
                Err(format!("fraction: Invalid value: {p}: must be between 0 and 1"))
            }
            _ => Ok(()),
        };
        match c {
            Command::Fail {
                code,
                scope,
                count,
                fraction,
            } => {
                if code != 500 && code != 503 {
                    return Err(format!(
                        "code: Unsupported value: {code}: supported values: 500, 503"
                    ));
                }
                check_fraction(fraction)?;
                self.inject(RequestFault {
                    effect: Effect::Fail { code },
                    scope,
                    count,
                    fraction,
                });
            }
            Command::Throttle {
                retry_after_seconds,
                scope,
                count,
                fraction,
            } => {
                check_fraction(fraction)?;
                self.inject(RequestFault {
                    effect: Effect::Throttle { retry_after_seconds },
                    scope,
                    count,
                    fraction,
                });
            }
            Command::Latency {
                millis,
                scope,
                count,
                fraction,
            } => {
                check_fraction(fraction)?;
                self.inject(RequestFault {
                    effect: Effect::Latency { millis },
                    scope,
                    count,
                    fraction,
                });
            }
            Command::CloseWatches => self.close_watches(),
            Command::ExpireNextWatch { scope, count } => self.expire_next_watches(scope, count.unwrap_or(1)),
            Command::Unreachable { seconds } => {
                if !(seconds > 0.0 && seconds <= 3600.0) {
                    return Err(format!(
                        "seconds: Invalid value: {seconds}: must be more than 0 and at most 3600"
                    ));
                }
                self.unreachable_for(Duration::from_secs_f64(seconds));
            }
            Command::RevokeToken { token } => self.revoke(&token),
            Command::Clear => self.clear(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, resource: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            resource: resource.into(),
            ..Default::default()
        }
    }

    #[test]
    fn counted_and_scoped_faults() {
        let f = Faults::default();
        f.inject(RequestFault {
            effect: Effect::Fail { code: 503 },
            scope: Scope::all().verb("list").resource("configmaps"),
            count: Some(2),
            fraction: None,
        });
        let u = User::admin();
        assert_eq!(f.on_request(&u, &attrs("get", "configmaps")), None);
        assert_eq!(f.on_request(&u, &attrs("list", "secrets")), None);
        assert_eq!(
            f.on_request(&u, &attrs("list", "configmaps")),
            Some(Effect::Fail { code: 503 })
        );
        assert_eq!(
            f.on_request(&u, &attrs("list", "configmaps")),
            Some(Effect::Fail { code: 503 })
        );
        assert_eq!(f.on_request(&u, &attrs("list", "configmaps")), None);
        assert!(f.active().is_empty());
    }

    #[test]
    fn commands_parse_and_validate() {
        let c: Command =
            serde_json::from_str(r#"{"action":"fail","code":503,"count":2,"scope":{"verb":"list"}}"#)
                .unwrap();
        let f = Faults::default();
        f.apply(c).unwrap();
        assert_eq!(f.active()[0].count, Some(2));
        let bad: Command = serde_json::from_str(r#"{"action":"fail","code":404}"#).unwrap();
        assert_eq!(
            f.apply(bad).unwrap_err(),
            "code: Unsupported value: 404: supported values: 500, 503"
        );
        assert!(serde_json::from_str::<Command>(r#"{"action":"explode"}"#).is_err());
    }
}
