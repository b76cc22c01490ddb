//! A TAXII 2.1 client: discovery, API roots, collections, and paged `objects` polls with
//! `added_after` for incremental fetches.

use crate::IntelError;
use crate::http::{http_agent, read_body};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The TAXII 2.1 media type sent in `Accept`.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Most pages read in one poll (a server that keeps answering `more` is cut off).
pub const MAX_PAGES: usize = 10_000;

/// HTTP basic credentials: given as they are, or as the names of environment variables
/// read when a feed is polled (so the secret is in neither a config file nor the store).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Read the user name from this environment variable (wins over `username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_env: Option<String>,
    /// Read the password from this environment variable (wins over `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// What replaces a password wherever credentials are shown.
pub const MASK: &str = "********";

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { MASK },
            )
            .field("username_env", &self.username_env)
            .field("password_env", &self.password_env)
            .finish()
    }
}

impl BasicAuth {
    /// Credentials given as they are.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        BasicAuth {
            username: username.into(),
            password: password.into(),
            ..BasicAuth::default()
        }
    }

    /// The credentials with the environment variables read now: an error names a
    /// variable that is not set (never its value).
    pub fn resolve(&self) -> Result<BasicAuth, IntelError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|e| IntelError::Invalid {
                what: "credential environment variable",
                value: name.to_owned(),
                reason: e.to_string(),
            })
        };
        Ok(BasicAuth {
            username: match &self.username_env {
                Some(name) => var(name)?,
                None => self.username.clone(),
            },
            password: match &self.password_env {
                Some(name) => var(name)?,
                None => self.password.clone(),
            },
            username_env: None,
            password_env: None,
        })
    }

    /// A copy fit to show: the password, when one is stored, replaced by [`MASK`]
    /// (variable names are kept: they are not secret).
    pub fn masked(&self) -> BasicAuth {
        let mut m = self.clone();
        if !m.password.is_empty() {
            m.password = MASK.to_owned();
        }
        m
    }

    pub(crate) fn header(&self) -> String {
        use base64::Engine;
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A server's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub title: String,
    /// The default API root, as an absolute URL.
    pub default: Option<String>,
    /// Every API root, as absolute URLs ending in `/`.
    pub api_roots: Vec<String>,
}

/// One collection of an API root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    pub id: String,
    pub title: String,
    pub can_read: bool,
}

/// What one poll of a collection gave.
#[derive(Debug, Clone, Default)]
pub struct PollResult {
    pub objects: Vec<Value>,
    /// `X-TAXII-Date-Added-Last` of the last page: pass it as `added_after` next time.
    pub last_added: Option<String>,
    pub pages: usize,
}

/// A blocking TAXII 2.1 client.
pub struct TaxiiClient {
    agent: ureq::Agent,
    auth: Option<String>,
    /// `limit` asked per page (1000 by default; the server may give fewer). Always
    /// sent, since some servers (medallion) need it on `next` requests.
    pub page_size: Option<u32>,
}

impl TaxiiClient {
    pub fn new(auth: Option<&BasicAuth>, timeout: Duration) -> Self {
        TaxiiClient {
            agent: http_agent(timeout),
            auth: auth.map(BasicAuth::header),
            page_size: Some(1000),
        }
    }

    fn get(
        &self,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<(Value, Option<String>), IntelError> {
        let mut req = self.agent.get(url).header("Accept", TAXII_MEDIA_TYPE);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        let mut resp = req.call().map_err(|e| IntelError::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let last = resp
            .headers()
            .get("X-TAXII-Date-Added-Last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(&mut resp, url)?;
        if !status.is_success() {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            crate::feed::truncate_chars(&mut text, 300);
            return Err(IntelError::Http {
                url: url.to_owned(),
                reason: format!("status {status}: {text}"),
            });
        }
        let json = serde_json::from_slice(&body).map_err(|e| IntelError::Json {
            context: format!("taxii answer from {url}"),
            source: e,
        })?;
        Ok((json, last))
    }

    /// Read a discovery document (`…/taxii2/`).
    pub fn discovery(&self, url: &str) -> Result<Discovery, IntelError> {
        let (doc, _) = self.get(url, &[])?;
        discovery_from(&doc, url)
    }

    /// The collections of an API root.
    pub fn collections(&self, api_root: &str) -> Result<Vec<CollectionInfo>, IntelError> {
        let url = format!("{}collections/", with_slash(api_root));
        let (doc, _) = self.get(&url, &[])?;
        let mut out = Vec::new();
        if let Some(Value::Array(cols)) = doc.get("collections") {
            for c in cols {
                let Some(id) = c.get("id").and_then(Value::as_str) else {
                    continue;
                };
                out.push(CollectionInfo {
                    id: id.to_owned(),
                    title: c
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    can_read: c.get("can_read").and_then(Value::as_bool).unwrap_or(false),
                });
            }
        }
        Ok(out)
    }

    /// Find a collection by id or title: `url` is a discovery URL (every API root is
    /// searched, the default first) or an API root URL. Returns (API root, collection id).
    pub fn locate(&self, url: &str, collection: &str) -> Result<(String, String), IntelError> {
        let (doc, _) = self.get(url, &[])?;
        let roots = if doc.get("api_roots").is_some() {
            let d = discovery_from(&doc, url)?;
            let mut roots = Vec::new();
            if let Some(def) = d.default {
                roots.push(def);
            }
            for r in d.api_roots {
                if !roots.contains(&r) {
                    roots.push(r);
                }
            }
            roots
        } else {
            vec![with_slash(url)]
        };
        for root in roots {
            let cols = match self.collections(&root) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(root = %root, error = %e, "taxii api root without readable collections");
                    continue;
                }
            };
            if let Some(c) = cols
                .iter()
                .find(|c| c.id == collection || c.title == collection)
            {
                if !c.can_read {
                    return Err(IntelError::Http {
                        url: root,
                        reason: format!("collection '{collection}' is not readable"),
                    });
                }
                return Ok((root, c.id.clone()));
            }
        }
        Err(IntelError::Http {
            url: url.to_owned(),
            reason: format!("no collection '{collection}' under any api root"),
        })
    }

    /// Every object added to the collection after `added_after` (all when `None`),
    /// following `next` while the server says `more`.
    pub fn poll(
        &self,
        api_root: &str,
        collection_id: &str,
        added_after: Option<&str>,
    ) -> Result<PollResult, IntelError> {
        let url = format!(
            "{}collections/{}/objects/",
            with_slash(api_root),
            collection_id
        );
        let mut out = PollResult::default();
        let mut next: Option<String> = None;
        let limit = self.page_size.map(|l| l.to_string());
        let mut total_objects = 0usize;
        loop {
            let mut q: Vec<(&str, &str)> = Vec::new();
            if let Some(a) = added_after {
                q.push(("added_after", a));
            }
            if let Some(l) = &limit {
                q.push(("limit", l));
            }
            if let Some(n) = &next {
                q.push(("next", n));
            }
            let (doc, last) = self.get(&url, &q)?;
            out.pages += 1;
            if last.is_some() {
                out.last_added = last;
            }
            if let Some(Value::Array(objs)) = doc.get("objects") {
                total_objects += objs.len();
                if total_objects > 10_000_000 {
                    return Err(IntelError::TooLarge {
                        what: format!("taxii collection {collection_id}"),
                        size: total_objects as u64,
                        limit: 10_000_000,
                    });
                }
                out.objects.extend(objs.iter().cloned());
            }
            let more = doc.get("more").and_then(Value::as_bool).unwrap_or(false);
            let new_next = doc.get("next").and_then(Value::as_str).map(str::to_owned);
            match (more, new_next) {
                (true, Some(n)) if out.pages < MAX_PAGES => {
                    next = Some(n);
                }
                (true, Some(_)) => {
                    return Err(IntelError::Http {
                        url,
                        reason: format!("more than {MAX_PAGES} pages"),
                    });
                }
                _ => break,
            }
        }
        Ok(out)
    }
}

fn with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_owned()
    } else {
        format!("{u}/")
    }
}

/// Resolve an API root as given in discovery (absolute, host-relative or relative).
fn resolve(base: &str, r: &str) -> String {
    if r.starts_with("http://") || r.starts_with("https://") {
        return with_slash(r);
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    if r.starts_with('/') {
        return with_slash(&format!("{}{r}", &base[..origin_end]));
    }
    with_slash(&format!("{}{r}", with_slash(base)))
}

fn discovery_from(doc: &Value, url: &str) -> Result<Discovery, IntelError> {
    let Some(Value::Array(roots)) = doc.get("api_roots") else {
        return Err(IntelError::Format {
            context: format!("taxii discovery at {url}"),
            reason: "no 'api_roots' array".into(),
        });
    };
    Ok(Discovery {
        title: doc
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        default: doc
            .get("default")
            .and_then(Value::as_str)
            .map(|d| resolve(url, d)),
        api_roots: roots
            .iter()
            .filter_map(Value::as_str)
            .map(|r| resolve(url, r))
            .collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn api_roots_resolve_against_the_discovery_url() {
        let base = "http://127.0.0.1:5000/taxii2/";
        let cases = [
            ("http://h:1/api1/", "http://h:1/api1/"),
            ("https://h/api1", "https://h/api1/"),
            ("/api2/", "http://127.0.0.1:5000/api2/"),
            ("api3", "http://127.0.0.1:5000/taxii2/api3/"),
        ];
        for (r, want) in cases {
            assert_eq!(resolve(base, r), want, "{r}");
        }
    }
}
