//! The indicator model: kinds, normalised values, provenance, expiry and confidence decay.

use rampart_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

/// Longest indicator value accepted (URLs included); longer values are skipped.
pub const MAX_VALUE_LEN: usize = 2048;

/// What an indicator's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Ipv4,
    Ipv6,
    /// An IPv4 or IPv6 network (`10.0.0.0/8`, `2001:db8::/32`).
    Cidr,
    /// A domain name; matches itself and every subdomain.
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 9] = [
        IndicatorKind::Ipv4,
        IndicatorKind::Ipv6,
        IndicatorKind::Cidr,
        IndicatorKind::Domain,
        IndicatorKind::Url,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
        IndicatorKind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ipv4 => "ipv4",
            IndicatorKind::Ipv6 => "ipv6",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Email => "email",
        }
    }

    /// Read a kind name as written in CSV headers and configuration (`ip`, `ipv4`,
    /// `ip-dst`, `hostname`, `domain`, `sha-256`, `email-addr`, …). `ip` means "an IP of
    /// either family" and is resolved from the value.
    pub fn parse_name(name: &str) -> Option<KindHint> {
        let n = name.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Some(match n.as_str() {
            "ip" | "ip-addr" | "ip-address" | "ip-src" | "ip-dst" | "address" => KindHint::AnyIp,
            "ipv4" | "ipv4-addr" => KindHint::Kind(IndicatorKind::Ipv4),
            "ipv6" | "ipv6-addr" => KindHint::Kind(IndicatorKind::Ipv6),
            "cidr" | "network" | "net" | "subnet" => KindHint::Kind(IndicatorKind::Cidr),
            "domain" | "domain-name" | "hostname" | "host" | "fqdn" => {
                KindHint::Kind(IndicatorKind::Domain)
            }
            "url" | "uri" | "link" => KindHint::Kind(IndicatorKind::Url),
            "md5" => KindHint::Kind(IndicatorKind::Md5),
            "sha1" | "sha-1" => KindHint::Kind(IndicatorKind::Sha1),
            "sha256" | "sha-256" => KindHint::Kind(IndicatorKind::Sha256),
            "email" | "email-addr" | "email-address" | "email-src" | "email-dst" | "mail" => {
                KindHint::Kind(IndicatorKind::Email)
            }
            "hash" | "filehash" | "file-hash" => KindHint::AnyHash,
            _ => return None,
        })
    }
}

impl std::fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IndicatorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndicatorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown indicator kind '{s}'"))
    }
}

/// A declared type that still leaves the exact kind to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindHint {
    Kind(IndicatorKind),
    /// IPv4, IPv6 or a network.
    AnyIp,
    /// MD5, SHA-1 or SHA-256, by length.
    AnyHash,
}

/// Something an indicator points at beyond itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// A MITRE ATT&CK technique id (`T1059`, `T1059.001`).
    Attack(String),
    /// A malware family name (`Emotet`).
    Malware(String),
}

/// One indicator of compromise as one feed states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// Normalised: lower-case domains, hashes and e-mail addresses; canonical IPs and
    /// networks; URLs with lower-case scheme and host, no default port, no fragment.
    pub value: String,
    /// The feed it came from.
    pub source: String,
    /// 0–100 as the feed stated it (50 when it stated nothing).
    pub confidence: u8,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Explicit expiry from the feed; without one, [`DecayPolicy`] gives a lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The STIX id or MISP attribute/event uuid it was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Confidence given when a feed states none.
pub const DEFAULT_CONFIDENCE: u8 = 50;

impl Indicator {
    /// A new indicator with a normalised `value`, seen `now`, default confidence.
    pub fn new(
        kind: IndicatorKind,
        value: &str,
        source: &str,
        now: Timestamp,
    ) -> Result<Indicator, String> {
        let (kind, value) = normalise(kind, value)?;
        Ok(Indicator {
            kind,
            value,
            source: source.to_owned(),
            confidence: DEFAULT_CONFIDENCE,
            first_seen: now,
            last_seen: now,
            valid_until: None,
            tags: Vec::new(),
            references: Vec::new(),
            description: None,
            external_id: None,
        })
    }

    /// When it stops matching: `valid_until`, else `last_seen` plus the kind's lifetime,
    /// else never.
    pub fn expires_at(&self, policy: &DecayPolicy) -> Option<Timestamp> {
        if let Some(t) = self.valid_until {
            return Some(t);
        }
        let life = policy.lifetime(self.kind)?;
        let nanos = i64::try_from(life.as_nanos()).unwrap_or(i64::MAX);
        Some(Timestamp(self.last_seen.0.saturating_add(nanos)))
    }

    pub fn is_expired(&self, policy: &DecayPolicy, now: Timestamp) -> bool {
        self.expires_at(policy).is_some_and(|t| now >= t)
    }

    /// Confidence at `now`: the stated confidence until `last_seen`, then falling linearly
    /// to 0 at expiry (rounded up, so it is at least 1 while the indicator still matches);
    /// 0 from expiry on. Indicators that never expire keep their confidence.
    pub fn confidence_at(&self, policy: &DecayPolicy, now: Timestamp) -> u8 {
        let Some(end) = self.expires_at(policy) else {
            return self.confidence;
        };
        if now >= end {
            return 0;
        }
        let start = self.last_seen.min(end);
        if now <= start || end.0 == start.0 {
            return self.confidence;
        }
        let left = (end.0 - now.0) as f64 / (end.0 - start.0) as f64;
        (f64::from(self.confidence) * left).ceil().clamp(1.0, 100.0) as u8
    }

    /// ATT&CK technique ids among the references.
    pub fn attack_techniques(&self) -> impl Iterator<Item = &str> {
        self.references.iter().filter_map(|r| match r {
            Reference::Attack(t) => Some(t.as_str()),
            Reference::Malware(_) => None,
        })
    }

    /// Add a tag once.
    pub fn add_tag(&mut self, tag: &str) {
        let tag = tag.trim();
        if !tag.is_empty() && !self.tags.iter().any(|t| t == tag) {
            self.tags.push(tag.to_owned());
        }
    }

    /// Add a reference once.
    pub fn add_reference(&mut self, r: Reference) {
        if !self.references.contains(&r) {
            self.references.push(r);
        }
    }
}

/// A known-benign value: events holding it (or, for networks and domains, anything
/// inside it) never raise a hit, and indicators it covers are left out of the matcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowEntry {
    pub kind: IndicatorKind,
    pub value: String,
    pub reason: String,
    pub author: String,
    pub added: Timestamp,
}

impl AllowEntry {
    /// An entry with a normalised value of the given kind.
    pub fn new(
        kind: IndicatorKind,
        value: &str,
        reason: &str,
        author: &str,
        added: Timestamp,
    ) -> Result<AllowEntry, String> {
        let (kind, value) = normalise(kind, value)?;
        Ok(AllowEntry {
            kind,
            value,
            reason: reason.to_owned(),
            author: author.to_owned(),
            added,
        })
    }

    /// An entry whose kind is guessed from the value.
    pub fn guessed(
        value: &str,
        reason: &str,
        author: &str,
        added: Timestamp,
    ) -> Result<AllowEntry, String> {
        let (kind, value) = guess(value)?;
        Ok(AllowEntry {
            kind,
            value,
            reason: reason.to_owned(),
            author: author.to_owned(),
            added,
        })
    }
}

/// Default lifetimes, from `last_seen`, of indicators without an explicit expiry.
/// `None` means they never expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecayPolicy {
    pub ip: Option<Duration>,
    pub cidr: Option<Duration>,
    pub domain: Option<Duration>,
    pub url: Option<Duration>,
    pub hash: Option<Duration>,
    pub email: Option<Duration>,
}

const DAY: u64 = 86_400;

impl Default for DecayPolicy {
    /// IPs and networks 30 days, domains and URLs 90 days, e-mail addresses 180 days,
    /// file hashes never.
    fn default() -> Self {
        DecayPolicy {
            ip: Some(Duration::from_secs(30 * DAY)),
            cidr: Some(Duration::from_secs(30 * DAY)),
            domain: Some(Duration::from_secs(90 * DAY)),
            url: Some(Duration::from_secs(90 * DAY)),
            hash: None,
            email: Some(Duration::from_secs(180 * DAY)),
        }
    }
}

impl DecayPolicy {
    /// A policy under which nothing expires unless the feed says so.
    pub fn never() -> Self {
        DecayPolicy {
            ip: None,
            cidr: None,
            domain: None,
            url: None,
            hash: None,
            email: None,
        }
    }

    pub fn lifetime(&self, kind: IndicatorKind) -> Option<Duration> {
        match kind {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => self.ip,
            IndicatorKind::Cidr => self.cidr,
            IndicatorKind::Domain => self.domain,
            IndicatorKind::Url => self.url,
            IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => self.hash,
            IndicatorKind::Email => self.email,
        }
    }
}

/// Normalise `value` as `kind`. An IP network of full length becomes an address, an
/// address given as a network becomes the address; a CIDR has its host bits cleared.
pub fn normalise(kind: IndicatorKind, value: &str) -> Result<(IndicatorKind, String), String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    if v.len() > MAX_VALUE_LEN {
        return Err(format!(
            "value of {} bytes is longer than {MAX_VALUE_LEN}",
            v.len()
        ));
    }
    match kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 | IndicatorKind::Cidr => normalise_ip(kind, v),
        IndicatorKind::Domain => normalise_domain(v).map(|d| (kind, d)),
        IndicatorKind::Url => normalise_url(v).map(|u| (kind, u.into_owned())),
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            let want = hash_len(kind);
            if v.len() != want || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("not a {kind} hash ({want} hex digits)"));
            }
            Ok((kind, v.to_ascii_lowercase()))
        }
        IndicatorKind::Email => normalise_email(v).map(|e| (kind, e)),
    }
}

/// Normalise `value` under a hint (`ip` of either family, a hash of any length).
pub fn normalise_hinted(hint: KindHint, value: &str) -> Result<(IndicatorKind, String), String> {
    match hint {
        KindHint::Kind(k) => normalise(k, value),
        KindHint::AnyIp => {
            let v = value.trim();
            let kind = if v.contains('/') {
                IndicatorKind::Cidr
            } else if v.contains(':') {
                IndicatorKind::Ipv6
            } else {
                IndicatorKind::Ipv4
            };
            normalise(kind, v)
        }
        KindHint::AnyHash => {
            let v = value.trim();
            match hash_kind_by_len(v.len()) {
                Some(k) => normalise(k, v),
                None => Err(format!(
                    "hash of {} characters is no MD5/SHA-1/SHA-256",
                    v.len()
                )),
            }
        }
    }
}

/// Guess the kind of a bare value (CSV without a type column, plain lists). Defanged
/// spellings (`hxxp://`, `evil[.]com`, `1.2.3[.]4`) are refanged first.
pub fn guess(value: &str) -> Result<(IndicatorKind, String), String> {
    let refanged = refang(value.trim());
    let v = refanged.as_ref();
    if v.is_empty() {
        return Err("empty value".into());
    }
    if v.contains("://") {
        return normalise(IndicatorKind::Url, v);
    }
    if v.parse::<IpAddr>().is_ok() {
        return normalise_hinted(KindHint::AnyIp, v);
    }
    if v.contains('/') && v.parse::<ipnet::IpNet>().is_ok() {
        return normalise(IndicatorKind::Cidr, v);
    }
    if let Some(k) = hash_kind_by_len(v.len())
        && v.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return normalise(k, v);
    }
    if v.contains('@') {
        return normalise(IndicatorKind::Email, v);
    }
    normalise(IndicatorKind::Domain, v)
        .map_err(|e| format!("not an IP, network, URL, hash, e-mail address or domain ({e})"))
}

/// Undo common defanging: `hxxp`→`http`, `[.]`/`(.)`/`[dot]`→`.`, `[:]`→`:`, `[@]`→`@`.
pub fn refang(v: &str) -> Cow<'_, str> {
    let lower_start = v.get(..5).map(|s| s.to_ascii_lowercase());
    let needs = v.contains('[')
        || v.contains("(.)")
        || lower_start.is_some_and(|s| s.starts_with("hxxp") || s.starts_with("fxp"));
    if !needs {
        return Cow::Borrowed(v);
    }
    let mut s = v
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[dot]", ".")
        .replace("[:]", ":")
        .replace("[@]", "@")
        .replace("[at]", "@")
        .replace("[://]", "://");
    for (from, to) in [("hxxps", "https"), ("hxxp", "http"), ("fxp", "ftp")] {
        if s.len() >= from.len() && s[..from.len()].eq_ignore_ascii_case(from) {
            s.replace_range(..from.len(), to);
            break;
        }
    }
    Cow::Owned(s)
}

pub(crate) fn hash_len(kind: IndicatorKind) -> usize {
    match kind {
        IndicatorKind::Md5 => 32,
        IndicatorKind::Sha1 => 40,
        _ => 64,
    }
}

pub(crate) fn hash_kind_by_len(len: usize) -> Option<IndicatorKind> {
    match len {
        32 => Some(IndicatorKind::Md5),
        40 => Some(IndicatorKind::Sha1),
        64 => Some(IndicatorKind::Sha256),
        _ => None,
    }
}

fn normalise_ip(kind: IndicatorKind, v: &str) -> Result<(IndicatorKind, String), String> {
    if let Some((addr, len)) = v.split_once('/') {
        let net: ipnet::IpNet = v
            .parse()
            .map_err(|_| format!("'{addr}/{len}' is not an IP network"))?;
        let net = net.trunc();
        let full = match net {
            ipnet::IpNet::V4(_) => 32,
            ipnet::IpNet::V6(_) => 128,
        };
        if net.prefix_len() == full {
            return Ok(ip_indicator(canonical_ip(net.addr())));
        }
        return Ok((IndicatorKind::Cidr, net.to_string()));
    }
    let ip: IpAddr = v
        .parse()
        .map_err(|_| "not an IP address or network".to_string())?;
    if kind == IndicatorKind::Cidr {
        return Err("a network needs a prefix length ('/24')".into());
    }
    let (written, _) = ip_indicator(ip);
    let (found, text) = ip_indicator(canonical_ip(ip));
    if written != kind {
        return Err(format!("'{v}' is an {written} address, not {kind}"));
    }
    Ok((found, text))
}

fn ip_indicator(ip: IpAddr) -> (IndicatorKind, String) {
    match ip {
        IpAddr::V4(a) => (IndicatorKind::Ipv4, a.to_string()),
        IpAddr::V6(a) => (IndicatorKind::Ipv6, a.to_string()),
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Lower-case, without a trailing dot or a leading `*.`; at least two labels of
/// letters, digits, `-` and `_`.
pub fn normalise_domain(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('.');
    let v = v.strip_prefix("*.").unwrap_or(v);
    if !v.is_ascii() {
        return Err("non-ASCII domain (give it in punycode, xn--…)".into());
    }
    if v.len() > 253 {
        return Err("domain longer than 253 characters".into());
    }
    let mut labels = 0;
    for label in v.split('.') {
        labels += 1;
        if label.is_empty() || label.len() > 63 {
            return Err("domain has an empty or over-long label".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("domain has a character other than letters, digits, '-', '_'".into());
        }
    }
    if labels < 2 {
        return Err("a domain indicator needs at least two labels".into());
    }
    if v.rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("a domain's last label cannot be numeric (an IP address?)".into());
    }
    Ok(v.to_ascii_lowercase())
}

fn normalise_email(v: &str) -> Result<String, String> {
    let v = v.trim().trim_start_matches("mailto:");
    let (local, domain) = v
        .rsplit_once('@')
        .ok_or_else(|| "e-mail address without '@'".to_string())?;
    if local.is_empty() || local.contains(char::is_whitespace) || local.contains('@') {
        return Err("e-mail address has an empty or invalid local part".into());
    }
    let domain = normalise_domain(domain)?;
    Ok(format!("{}@{domain}", local.to_lowercase()))
}

/// The parts of a URL the matcher needs: scheme, host (without brackets for IPv6),
/// port when explicit, and where the host ends in the original text.
pub(crate) struct UrlParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<&'a str>,
    /// Byte offset of the path (or query, or end) in the original text.
    pub rest_at: usize,
    /// Byte offset of the authority (after `scheme://`).
    pub authority_at: usize,
}

pub(crate) fn split_url(u: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = u.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let authority_at = scheme.len() + 3;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..end];
    let host_port = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let close = rest.find(']')?;
        (&rest[..close], rest[close + 1..].strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(UrlParts {
        scheme,
        host,
        port,
        rest_at: authority_at + end,
        authority_at,
    })
}

/// Normalise a URL: scheme and host lower-cased, default port (80/443/21) and fragment
/// dropped, an empty path written as `/`. Path and query keep their case. Borrows when
/// the text is already normal, so the matcher can call it per event.
pub fn normalise_url(u: &str) -> Result<Cow<'_, str>, String> {
    let u = u.trim();
    if u.len() > MAX_VALUE_LEN {
        return Err("URL too long".into());
    }
    let p = split_url(u).ok_or_else(|| "not a URL (scheme://host/…)".to_string())?;
    if u.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("URL contains whitespace".into());
    }
    let default_port = matches!(
        (p.scheme.to_ascii_lowercase().as_str(), p.port),
        ("http", Some("80")) | ("https", Some("443")) | ("ftp", Some("21")) | (_, Some(""))
    );
    let rest = &u[p.rest_at..];
    let rest = rest.split_once('#').map_or(rest, |(a, _)| a);
    let lower_ok = !p.scheme.bytes().any(|b| b.is_ascii_uppercase())
        && !u[p.authority_at..p.rest_at]
            .bytes()
            .any(|b| b.is_ascii_uppercase());
    let path_ok = !rest.is_empty() && !rest.starts_with('?');
    if lower_ok && !default_port && path_ok && rest.len() == u.len() - p.rest_at {
        return Ok(Cow::Borrowed(u));
    }
    let mut out = String::with_capacity(u.len() + 1);
    out.push_str(&p.scheme.to_ascii_lowercase());
    out.push_str("://");
    let authority_end = if default_port {
        // Cut ":port" off the authority.
        let port_len = p.port.map_or(0, |x| x.len() + 1);
        p.rest_at - port_len
    } else {
        p.rest_at
    };
    out.push_str(&u[p.authority_at..authority_end].to_ascii_lowercase());
    if rest.is_empty() || rest.starts_with('?') {
        out.push('/');
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    fn norm(kind: IndicatorKind, v: &str) -> Result<(IndicatorKind, String), String> {
        normalise(kind, v)
    }

    #[test]
    fn values_normalise_per_kind() {
        use IndicatorKind::*;
        let cases: &[(IndicatorKind, &str, Option<(IndicatorKind, &str)>)] = &[
            (Ipv4, " 10.0.0.1 ", Some((Ipv4, "10.0.0.1"))),
            (Ipv4, "10.0.0.1/32", Some((Ipv4, "10.0.0.1"))),
            (Ipv6, "2001:DB8:0::1", Some((Ipv6, "2001:db8::1"))),
            (Ipv6, "::ffff:1.2.3.4", Some((Ipv4, "1.2.3.4"))),
            (Ipv4, "2001:db8::1", None),
            (Cidr, "10.1.2.3/8", Some((Cidr, "10.0.0.0/8"))),
            (Cidr, "2001:db8::1/32", Some((Cidr, "2001:db8::/32"))),
            (Cidr, "10.0.0.1", None),
            (Cidr, "10.0.0.0/33", None),
            (Domain, "Evil.COM.", Some((Domain, "evil.com"))),
            (Domain, "*.evil.com", Some((Domain, "evil.com"))),
            (Domain, "com", None),
            (Domain, "bad domain.com", None),
            (Domain, "bücher.de", None),
            (Domain, "999.999.999.999", None),
            (Domain, "1.2.3.4", None),
            (
                Md5,
                "D41D8CD98F00B204E9800998ECF8427E",
                Some((Md5, "d41d8cd98f00b204e9800998ecf8427e")),
            ),
            (Md5, "xyz", None),
            (Sha256, "d41d8cd98f00b204e9800998ecf8427e", None),
            (Email, "Bad.Guy@Evil.COM", Some((Email, "bad.guy@evil.com"))),
            (Email, "nobody", None),
            (
                Url,
                "HTTP://Evil.COM:80/Path?Q=1#frag",
                Some((Url, "http://evil.com/Path?Q=1")),
            ),
            (Url, "https://evil.com", Some((Url, "https://evil.com/"))),
            (
                Url,
                "https://evil.com:8443/a",
                Some((Url, "https://evil.com:8443/a")),
            ),
            (
                Url,
                "https://[2001:DB8::1]:443/x",
                Some((Url, "https://[2001:db8::1]/x")),
            ),
            (Url, "evil.com/path", None),
        ];
        for (kind, input, want) in cases {
            let got = norm(*kind, input);
            match want {
                Some((k, v)) => assert_eq!(got, Ok((*k, v.to_string())), "{kind} {input}"),
                None => assert!(got.is_err(), "{kind} {input} gave {got:?}"),
            }
        }
    }

    #[test]
    fn normal_urls_are_borrowed() {
        assert!(matches!(
            normalise_url("http://evil.com/a?b=C"),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(
            normalise_url("http://Evil.com/a"),
            Ok(Cow::Owned(_))
        ));
    }

    #[test]
    fn guessing_and_refanging() {
        use IndicatorKind::*;
        let cases: &[(&str, Option<(IndicatorKind, &str)>)] = &[
            ("1.2.3.4", Some((Ipv4, "1.2.3.4"))),
            ("1.2.3[.]4", Some((Ipv4, "1.2.3.4"))),
            ("fe80::1", Some((Ipv6, "fe80::1"))),
            ("192.168.0.0/16", Some((Cidr, "192.168.0.0/16"))),
            ("hxxps://evil[.]com/x", Some((Url, "https://evil.com/x"))),
            ("evil[.]com", Some((Domain, "evil.com"))),
            (
                "44d88612fea8a8f36de82e1278abb02f",
                Some((Md5, "44d88612fea8a8f36de82e1278abb02f")),
            ),
            ("a@evil[.]com", Some((Email, "a@evil.com"))),
            ("not a thing", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = guess(input);
            match want {
                Some((k, v)) => assert_eq!(got, Ok((*k, v.to_string())), "{input}"),
                None => assert!(got.is_err(), "{input} gave {got:?}"),
            }
        }
    }

    #[test]
    fn expiry_and_linear_decay() {
        let day = 86_400_000_000_000i64;
        let t0 = Timestamp(1_700_000_000_000_000_000);
        let policy = DecayPolicy::default();
        let mut ip = Indicator::new(IndicatorKind::Ipv4, "1.2.3.4", "f", t0).unwrap();
        ip.confidence = 80;
        let at = |d: i64| Timestamp(t0.0 + d * day);
        assert_eq!(ip.expires_at(&policy), Some(at(30)));
        let cases = [
            (0, 80, false),
            (15, 40, false),
            (29, 3, false),
            (30, 0, true),
            (31, 0, true),
        ];
        for (d, conf, expired) in cases {
            assert_eq!(ip.confidence_at(&policy, at(d)), conf, "day {d}");
            assert_eq!(ip.is_expired(&policy, at(d)), expired, "day {d}");
        }
        // Explicit expiry wins over the kind's lifetime.
        ip.valid_until = Some(at(10));
        assert_eq!(ip.confidence_at(&policy, at(5)), 40);
        assert!(ip.is_expired(&policy, at(10)));
        // Hashes never expire by default.
        let h = Indicator::new(IndicatorKind::Md5, &"a".repeat(32), "f", t0).unwrap();
        assert_eq!(h.expires_at(&policy), None);
        assert_eq!(h.confidence_at(&policy, at(10_000)), 50);
    }
}
