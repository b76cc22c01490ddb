//! Blocking HTTP for feeds: one agent configuration, bounded bodies, and MISP feed
//! files fetched beside a base URL.

use crate::IntelError;
use crate::feed::MAX_DOCUMENT_BYTES;
use std::time::Duration;

pub(crate) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

pub(crate) fn read_body(
    resp: &mut ureq::http::Response<ureq::Body>,
    url: &str,
) -> Result<Vec<u8>, IntelError> {
    resp.body_mut()
        .with_config()
        .limit(MAX_DOCUMENT_BYTES as u64)
        .read_to_vec()
        .map_err(|e| IntelError::Http {
            url: url.to_owned(),
            reason: format!("reading the body: {e}"),
        })
}

/// Feed documents over HTTP: the base URL, or files beside it for MISP feeds.
pub(crate) struct HttpFiles {
    pub(crate) agent: ureq::Agent,
    pub(crate) base: String,
    pub(crate) auth: Option<String>,
}

impl HttpFiles {
    pub(crate) fn get(&self, url: &str) -> Result<Vec<u8>, IntelError> {
        let mut req = self.agent.get(url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().map_err(|e| IntelError::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let body = read_body(&mut resp, url)?;
        if !status.is_success() {
            return Err(IntelError::Http {
                url: url.to_owned(),
                reason: format!("status {status}"),
            });
        }
        Ok(body)
    }
}

impl crate::misp::FeedFiles for HttpFiles {
    fn read(&self, name: &str) -> Result<Vec<u8>, IntelError> {
        let base = if self.base.ends_with('/') {
            self.base.clone()
        } else {
            format!("{}/", self.base)
        };
        self.get(&format!("{base}{name}"))
    }
}
