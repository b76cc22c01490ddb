//! The ingest-time matcher: an immutable snapshot of the live indicators, indexed by hash
//! sets per kind, per-prefix-length network tables and a domain suffix walk, with the
//! allow-list applied before a hit is reported.

use crate::index::{Index, parse_ip};
use crate::indicator::{AllowEntry, DecayPolicy, Indicator, IndicatorKind, split_url};
use parking_lot::RwLock;
use rampart_model::{Event, Timestamp, get_path};
use serde_json::Value;
use std::sync::Arc;

/// Fields checked for IP addresses (IPv4, IPv6 and networks).
pub const IP_FIELDS: &[&str] = &[
    "source.ip",
    "destination.ip",
    "client.ip",
    "server.ip",
    "source.nat.ip",
    "destination.nat.ip",
    "related.ip",
    "dns.resolved_ip",
    "Event.EventData.SourceIp",
    "Event.EventData.DestinationIp",
    "Event.EventData.IpAddress",
];

/// Fields checked for domains (the value and each parent domain).
pub const DOMAIN_FIELDS: &[&str] = &[
    "dns.question.name",
    "url.domain",
    "destination.domain",
    "source.domain",
    "server.domain",
    "client.domain",
    "tls.client.server_name",
    "related.hosts",
    "Event.EventData.QueryName",
    "Event.EventData.DestinationHostname",
];

/// Fields checked for URLs; their host is also checked as a domain or IP.
pub const URL_FIELDS: &[&str] = &["url.full", "url.original"];

/// Fields holding one hex hash each (the kind follows from the length).
pub const HASH_FIELDS: &[&str] = &[
    "file.hash.md5",
    "file.hash.sha1",
    "file.hash.sha256",
    "process.hash.md5",
    "process.hash.sha1",
    "process.hash.sha256",
    "process.parent.hash.md5",
    "process.parent.hash.sha1",
    "process.parent.hash.sha256",
    "dll.hash.md5",
    "dll.hash.sha1",
    "dll.hash.sha256",
    "related.hash",
];

/// Sysmon fields of the form `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` (IMPHASH is ignored).
pub const SYSMON_HASH_FIELDS: &[&str] = &["Event.EventData.Hashes", "Event.EventData.Hash"];

/// Fields checked for e-mail addresses.
pub const EMAIL_FIELDS: &[&str] = &[
    "email.from.address",
    "email.to.address",
    "email.cc.address",
    "email.bcc.address",
    "email.sender.address",
    "email.reply_to.address",
    "user.email",
    "source.user.email",
    "destination.user.email",
];

/// One indicator found in one event.
#[derive(Debug, Clone, PartialEq)]
pub struct IntelHit {
    pub indicator: Arc<Indicator>,
    /// The event field that held the value.
    pub field: &'static str,
    /// The value as the event had it (a hash from a Sysmon `Hashes` string, a URL's host
    /// for a domain found in a URL).
    pub value: String,
    /// The indicator's confidence at the time the matcher was built, after decay.
    pub confidence: u8,
}

/// Known-benign values that must never raise a hit: exact IPs, networks (an IP inside
/// is allowed), domains (subdomains too), URLs, hashes and e-mail addresses.
#[derive(Default)]
pub struct AllowList {
    index: Index,
}

impl AllowList {
    pub fn new(entries: &[AllowEntry]) -> Self {
        let mut index = Index::default();
        for e in entries {
            index.insert(e.kind, &e.value, 0);
        }
        AllowList { index }
    }

    pub fn len(&self) -> usize {
        self.index.len
    }

    pub fn is_empty(&self) -> bool {
        self.index.len == 0
    }

    /// Whether `value` of `kind` (as an event or an indicator has it) is allowed.
    pub fn allows(&self, kind: IndicatorKind, value: &str) -> bool {
        !self.is_empty() && self.index.any(kind, value)
    }
}

/// Counts of a built matcher.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MatcherStats {
    /// Indicators that can match.
    pub indicators: usize,
    /// Left out because they had expired when the matcher was built.
    pub expired: usize,
    /// Left out because the allow-list covers their value.
    pub allowed: usize,
    pub allow_entries: usize,
}

/// An immutable snapshot of the live indicators. Build a new one when indicators or the
/// allow-list change and swap it in with [`SharedMatcher`].
pub struct Matcher {
    index: Index,
    indicators: Vec<Arc<Indicator>>,
    confidence: Vec<u8>,
    allow: AllowList,
    stats: MatcherStats,
    built_at: Timestamp,
}

impl Matcher {
    /// A matcher that matches nothing.
    pub fn empty() -> Self {
        Matcher {
            index: Index::default(),
            indicators: Vec::new(),
            confidence: Vec::new(),
            allow: AllowList::default(),
            stats: MatcherStats::default(),
            built_at: Timestamp::default(),
        }
    }

    /// Index `indicators` as of `now`: expired ones (under `policy`) and those the
    /// allow-list covers are left out; the others carry their decayed confidence.
    pub fn build(
        indicators: impl IntoIterator<Item = Indicator>,
        allow: AllowList,
        policy: &DecayPolicy,
        now: Timestamp,
    ) -> Self {
        let mut m = Matcher {
            allow,
            built_at: now,
            ..Matcher::empty()
        };
        m.stats.allow_entries = m.allow.len();
        for ind in indicators {
            if ind.is_expired(policy, now) {
                m.stats.expired += 1;
                continue;
            }
            if m.allow.allows(ind.kind, &ind.value) {
                m.stats.allowed += 1;
                continue;
            }
            let id = m.indicators.len() as u32;
            if m.index.insert(ind.kind, &ind.value, id) {
                m.confidence.push(ind.confidence_at(policy, now));
                m.indicators.push(Arc::new(ind));
            }
        }
        m.stats.indicators = m.indicators.len();
        m
    }

    pub fn stats(&self) -> &MatcherStats {
        &self.stats
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    pub fn built_at(&self) -> Timestamp {
        self.built_at
    }

    /// Append to `out` one hit per indicator found in the event's fields (see the
    /// `*_FIELDS` lists); returns how many were added. Allocates only for hits.
    pub fn match_event(&self, event: &Event, out: &mut Vec<IntelHit>) -> usize {
        let start = out.len();
        if self.indicators.is_empty() {
            return 0;
        }
        let fields = &event.fields;
        let idx = &self.index;
        let has_ip = !(idx.v4.is_empty()
            && idx.v6.is_empty()
            && idx.nets4.is_empty()
            && idx.nets6.is_empty());
        if has_ip {
            for field in IP_FIELDS {
                for_each_str(fields, field, |s| {
                    if let Some(ip) = parse_ip(s) {
                        idx.ip(ip, &mut |id| {
                            self.hit(id, field, IndicatorKind::Ipv4, s, start, out)
                        });
                    }
                });
            }
        }
        if !idx.domains.is_empty() {
            for field in DOMAIN_FIELDS {
                for_each_str(fields, field, |s| {
                    idx.domain(s, &mut |id| {
                        self.hit(id, field, IndicatorKind::Domain, s, start, out)
                    });
                });
            }
        }
        for field in URL_FIELDS {
            for_each_str(fields, field, |s| {
                idx.url(s, &mut |id| {
                    self.hit(id, field, IndicatorKind::Url, s, start, out)
                });
                if let Some(p) = split_url(s) {
                    if let Some(ip) = parse_ip(p.host) {
                        if has_ip {
                            idx.ip(ip, &mut |id| {
                                self.hit(id, field, IndicatorKind::Ipv4, p.host, start, out)
                            });
                        }
                    } else {
                        idx.domain(p.host, &mut |id| {
                            self.hit(id, field, IndicatorKind::Domain, p.host, start, out)
                        });
                    }
                }
            });
        }
        if !(idx.md5.is_empty() && idx.sha1.is_empty() && idx.sha256.is_empty()) {
            for field in HASH_FIELDS {
                for_each_str(fields, field, |s| {
                    idx.hash(s, &mut |id| {
                        self.hit(id, field, IndicatorKind::Md5, s, start, out)
                    });
                });
            }
            for field in SYSMON_HASH_FIELDS {
                for_each_str(fields, field, |s| {
                    for part in s.split(',') {
                        let (algo, h) = part.split_once('=').unwrap_or(("", part));
                        if algo.trim().eq_ignore_ascii_case("imphash") {
                            continue;
                        }
                        idx.hash(h, &mut |id| {
                            self.hit(id, field, IndicatorKind::Md5, h.trim(), start, out)
                        });
                    }
                });
            }
        }
        if !idx.emails.is_empty() {
            for field in EMAIL_FIELDS {
                for_each_str(fields, field, |s| {
                    idx.email(s, &mut |id| {
                        self.hit(id, field, IndicatorKind::Email, s, start, out)
                    });
                });
            }
        }
        out.len() - start
    }

    /// Record a hit unless the same indicator was already reported for this event or the
    /// event's value is allow-listed. `kind` says how to read `value` for the allow-list
    /// (hash kinds are read by length, IP kinds by family).
    fn hit(
        &self,
        id: u32,
        field: &'static str,
        kind: IndicatorKind,
        value: &str,
        start: usize,
        out: &mut Vec<IntelHit>,
    ) {
        let Some(ind) = self.indicators.get(id as usize) else {
            return;
        };
        if out[start..].iter().any(|h| Arc::ptr_eq(&h.indicator, ind)) {
            return;
        }
        if self.allow.allows(kind, value) {
            return;
        }
        out.push(IntelHit {
            indicator: Arc::clone(ind),
            field,
            value: value.trim().to_owned(),
            confidence: self.confidence.get(id as usize).copied().unwrap_or(0),
        });
    }

    /// The indicators in the snapshot.
    pub fn indicators(&self) -> impl Iterator<Item = &Indicator> {
        self.indicators.iter().map(|a| a.as_ref())
    }
}

/// Call `f` with the string at `path`, or each string of an array there.
fn for_each_str<'a>(
    fields: &'a serde_json::Map<String, Value>,
    path: &str,
    mut f: impl FnMut(&'a str),
) {
    match get_path(fields, path) {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(a)) => {
            for v in a {
                if let Value::String(s) = v {
                    f(s);
                }
            }
        }
        _ => {}
    }
}

/// The reads [`Matcher::match_event`] makes, without the lookups: the baseline that the
/// benchmark compares against. Returns the total length of the strings read.
pub fn read_match_fields(event: &Event) -> usize {
    let mut n = 0;
    for list in [
        IP_FIELDS,
        DOMAIN_FIELDS,
        URL_FIELDS,
        HASH_FIELDS,
        SYSMON_HASH_FIELDS,
        EMAIL_FIELDS,
    ] {
        for field in list {
            for_each_str(&event.fields, field, |s| n += s.len());
        }
    }
    n
}

/// The live matcher, shared between ingest threads and swapped whole when indicators
/// change. Readers take an `Arc` and keep using their snapshot.
#[derive(Clone)]
pub struct SharedMatcher(Arc<RwLock<Arc<Matcher>>>);

impl Default for SharedMatcher {
    fn default() -> Self {
        SharedMatcher::new(Matcher::empty())
    }
}

impl SharedMatcher {
    pub fn new(m: Matcher) -> Self {
        SharedMatcher(Arc::new(RwLock::new(Arc::new(m))))
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Matcher> {
        Arc::clone(&self.0.read())
    }

    /// Replace the snapshot; readers holding the old one finish with it.
    pub fn swap(&self, m: Matcher) {
        *self.0.write() = Arc::new(m);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;
    use rampart_model::{Origin, OriginKind, Raw};
    use serde_json::json;

    const NOW: Timestamp = Timestamp(1_700_000_000_000_000_000);
    const DAY: i64 = 86_400_000_000_000;

    fn ind(kind: IndicatorKind, v: &str) -> Indicator {
        Indicator::new(kind, v, "test", NOW).unwrap()
    }

    fn allow(entries: &[(IndicatorKind, &str)]) -> AllowList {
        AllowList::new(
            &entries
                .iter()
                .map(|(k, v)| AllowEntry::new(*k, v, "benign", "tester", NOW).unwrap())
                .collect::<Vec<_>>(),
        )
    }

    fn event(fields: Value) -> Event {
        let mut e = Event::new(
            Origin::new(OriginKind::Import, "t"),
            Raw::Text(String::new()),
        );
        if let Value::Object(m) = fields {
            e.fields = m;
        }
        e
    }

    /// (field, indicator value) of each hit.
    fn hits(m: &Matcher, fields: Value) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        m.match_event(&event(fields), &mut out);
        out.into_iter()
            .map(|h| (h.field, h.indicator.value.clone()))
            .collect()
    }

    fn standard() -> Matcher {
        use IndicatorKind::*;
        let inds = vec![
            ind(Ipv4, "203.0.113.7"),
            ind(Ipv6, "2001:db8::66"),
            ind(Cidr, "198.51.100.0/24"),
            ind(Cidr, "10.0.0.0/8"),
            ind(Cidr, "2001:db8:bad::/48"),
            ind(Domain, "evil.com"),
            ind(Url, "http://phish.example.net/login.php?x=1"),
            ind(Md5, "44d88612fea8a8f36de82e1278abb02f"),
            ind(Sha1, "3395856ce81f2b7382dee72602f798b642f14140"),
            ind(
                Sha256,
                "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            ),
            ind(Email, "bad.guy@evil.org"),
        ];
        Matcher::build(
            inds,
            allow(&[(Ipv4, "10.1.1.1"), (Domain, "good.evil.com")]),
            &DecayPolicy::default(),
            NOW,
        )
    }

    #[test]
    fn each_kind_matches_its_fields() {
        let m = standard();
        let s = |x: &str| x.to_string();
        let cases: Vec<(Value, Vec<(&str, String)>)> = vec![
            (
                json!({"source": {"ip": "203.0.113.7"}}),
                vec![("source.ip", s("203.0.113.7"))],
            ),
            (
                json!({"destination.ip": "2001:DB8::66"}),
                vec![("destination.ip", s("2001:db8::66"))],
            ),
            (
                json!({"client": {"ip": "::ffff:203.0.113.7"}}),
                vec![("client.ip", s("203.0.113.7"))],
            ),
            (
                json!({"source": {"ip": "198.51.100.200"}}),
                vec![("source.ip", s("198.51.100.0/24"))],
            ),
            (json!({"source": {"ip": "198.51.101.1"}}), vec![]),
            (
                json!({"server": {"ip": "10.200.3.4"}}),
                vec![("server.ip", s("10.0.0.0/8"))],
            ),
            (
                json!({"source": {"ip": "2001:db8:bad:1::9"}}),
                vec![("source.ip", s("2001:db8:bad::/48"))],
            ),
            (json!({"source": {"ip": "2001:db8:bae::1"}}), vec![]),
            (
                json!({"dns": {"question": {"name": "a.b.EVIL.com."}}}),
                vec![("dns.question.name", s("evil.com"))],
            ),
            (
                json!({"dns": {"question": {"name": "evil.com"}}}),
                vec![("dns.question.name", s("evil.com"))],
            ),
            (
                json!({"dns": {"question": {"name": "notevil.com"}}}),
                vec![],
            ),
            (
                json!({"dns": {"question": {"name": "evil.com.au"}}}),
                vec![],
            ),
            (
                json!({"url": {"original": "HTTP://phish.example.net:80/login.php?x=1#top"}}),
                vec![("url.original", s("http://phish.example.net/login.php?x=1"))],
            ),
            (
                json!({"url": {"original": "http://phish.example.net/login.php?x=2"}}),
                vec![],
            ),
            (
                json!({"url": {"full": "https://cdn.evil.com/x.js"}}),
                vec![("url.full", s("evil.com"))],
            ),
            (
                json!({"url": {"full": "http://203.0.113.7:8080/a"}}),
                vec![("url.full", s("203.0.113.7"))],
            ),
            (
                json!({"file": {"hash": {"md5": "44D88612FEA8A8F36DE82E1278ABB02F"}}}),
                vec![("file.hash.md5", s("44d88612fea8a8f36de82e1278abb02f"))],
            ),
            (
                json!({"process": {"hash": {"sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}}}),
                vec![(
                    "process.hash.sha256",
                    s("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
                )],
            ),
            (
                json!({"Event": {"EventData": {"Hashes": "SHA1=3395856CE81F2B7382DEE72602F798B642F14140,MD5=00000000000000000000000000000000,IMPHASH=44D88612FEA8A8F36DE82E1278ABB02F"}}}),
                vec![(
                    "Event.EventData.Hashes",
                    s("3395856ce81f2b7382dee72602f798b642f14140"),
                )],
            ),
            (
                json!({"email": {"from": {"address": "Bad.Guy@Evil.org"}}}),
                vec![("email.from.address", s("bad.guy@evil.org"))],
            ),
            (
                json!({"email": {"to": {"address": ["x@y.com", "bad.guy@evil.org"]}}}),
                vec![("email.to.address", s("bad.guy@evil.org"))],
            ),
            (
                json!({"Event": {"EventData": {"DestinationIp": "203.0.113.7", "QueryName": "x.evil.com"}}}),
                vec![
                    ("Event.EventData.DestinationIp", s("203.0.113.7")),
                    ("Event.EventData.QueryName", s("evil.com")),
                ],
            ),
            // One indicator in two fields is one hit.
            (
                json!({"source": {"ip": "203.0.113.7"}, "destination": {"ip": "203.0.113.7"}}),
                vec![("source.ip", s("203.0.113.7"))],
            ),
            // Fields not in the lists are not checked.
            (
                json!({"host": {"ip": "203.0.113.7"}, "message": "evil.com"}),
                vec![],
            ),
            (json!({"source": {"ip": 12345}}), vec![]),
        ];
        for (fields, want) in cases {
            let want: Vec<(&str, String)> = want;
            assert_eq!(hits(&m, fields.clone()), want, "{fields}");
        }
    }

    #[test]
    fn allow_list_stops_hits() {
        let m = standard();
        // 10.1.1.1 is inside the 10/8 indicator but allowed; good.evil.com under evil.com.
        let cases = [
            (json!({"source": {"ip": "10.1.1.1"}}), 0),
            (json!({"source": {"ip": "10.1.1.2"}}), 1),
            (json!({"dns": {"question": {"name": "good.evil.com"}}}), 0),
            (
                json!({"dns": {"question": {"name": "cdn.good.evil.com"}}}),
                0,
            ),
            (json!({"dns": {"question": {"name": "bad.evil.com"}}}), 1),
        ];
        for (fields, n) in cases {
            assert_eq!(hits(&m, fields.clone()).len(), n, "{fields}");
        }
        // An indicator whose value is allowed is left out of the matcher altogether.
        let m = Matcher::build(
            vec![
                ind(IndicatorKind::Domain, "cdn.good.org"),
                ind(IndicatorKind::Ipv4, "8.8.8.8"),
            ],
            allow(&[
                (IndicatorKind::Domain, "good.org"),
                (IndicatorKind::Cidr, "8.8.8.0/24"),
            ]),
            &DecayPolicy::default(),
            NOW,
        );
        assert_eq!(m.stats().allowed, 2);
        assert!(m.is_empty());
    }

    #[test]
    fn expired_indicators_do_not_match_and_confidence_decays() {
        let mut old = ind(IndicatorKind::Ipv4, "192.0.2.1");
        old.last_seen = Timestamp(NOW.0 - 31 * DAY);
        let mut half = ind(IndicatorKind::Ipv4, "192.0.2.2");
        half.confidence = 90;
        half.last_seen = Timestamp(NOW.0 - 15 * DAY);
        let mut until = ind(IndicatorKind::Md5, "44d88612fea8a8f36de82e1278abb02f");
        until.valid_until = Some(Timestamp(NOW.0 - 1));
        let m = Matcher::build(
            vec![old, half, until],
            AllowList::default(),
            &DecayPolicy::default(),
            NOW,
        );
        assert_eq!(m.stats().expired, 2);
        assert!(hits(&m, json!({"source": {"ip": "192.0.2.1"}})).is_empty());
        let mut out = Vec::new();
        m.match_event(&event(json!({"source": {"ip": "192.0.2.2"}})), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].confidence, 45);
        // The same set built 16 days later: the second one has expired too.
        let later = Timestamp(NOW.0 + 16 * DAY);
        let m2 = Matcher::build(
            m.indicators().cloned(),
            AllowList::default(),
            &DecayPolicy::default(),
            later,
        );
        assert!(m2.is_empty());
    }

    #[test]
    fn shared_matcher_swaps() {
        let shared = SharedMatcher::default();
        let old = shared.load();
        shared.swap(standard());
        assert!(old.is_empty());
        assert_eq!(shared.load().len(), 11);
    }
}
