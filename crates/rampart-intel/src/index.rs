//! The value index behind the matcher and the allow-list: hash sets per kind, one
//! table per network prefix length, case-folded domain and e-mail keys.

use crate::indicator::{IndicatorKind, canonical_ip, normalise_url};
use hashbrown::{Equivalent, HashMap};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// A case-folded string key: stored lower-case, probed with any case without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoldKey(Box<str>);

/// A probe for [`FoldKey`]s.
struct Folded<'a>(&'a str);

fn fold_hash<H: Hasher>(s: &str, state: &mut H) {
    let mut buf = [0u8; 64];
    for chunk in s.as_bytes().chunks(64) {
        for (slot, b) in buf.iter_mut().zip(chunk) {
            *slot = b.to_ascii_lowercase();
        }
        state.write(&buf[..chunk.len()]);
    }
    state.write_u8(0xff);
}

impl Hash for FoldKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        fold_hash(&self.0, state);
    }
}

impl Hash for Folded<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        fold_hash(self.0, state);
    }
}

impl Equivalent<FoldKey> for Folded<'_> {
    fn equivalent(&self, key: &FoldKey) -> bool {
        key.0.eq_ignore_ascii_case(self.0)
    }
}

pub(crate) type Ids = Vec<u32>;

/// Value → indicator positions, per kind.
#[derive(Default)]
pub(crate) struct Index {
    pub(crate) v4: HashMap<u32, Ids>,
    pub(crate) v6: HashMap<u128, Ids>,
    /// Networks by prefix length, longest first.
    pub(crate) nets4: Vec<(u8, HashMap<u32, Ids>)>,
    pub(crate) nets6: Vec<(u8, HashMap<u128, Ids>)>,
    pub(crate) domains: HashMap<FoldKey, Ids>,
    pub(crate) urls: HashMap<Box<str>, Ids>,
    pub(crate) md5: HashMap<[u8; 16], Ids>,
    pub(crate) sha1: HashMap<[u8; 20], Ids>,
    pub(crate) sha256: HashMap<[u8; 32], Ids>,
    pub(crate) emails: HashMap<FoldKey, Ids>,
    pub(crate) len: usize,
}

fn mask4(addr: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask6(addr: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - u32::from(prefix)))
    }
}

fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    s.parse::<IpAddr>().ok().map(canonical_ip)
}

impl Index {
    /// Add `value` of `kind` (already normalised) under `id`.
    pub(crate) fn insert(&mut self, kind: IndicatorKind, value: &str, id: u32) -> bool {
        fn push<K: Hash + Eq>(m: &mut HashMap<K, Ids>, k: K, id: u32) {
            m.entry(k).or_default().push(id);
        }
        match kind {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => match parse_ip(value) {
                Some(IpAddr::V4(a)) => push(&mut self.v4, u32::from(a), id),
                Some(IpAddr::V6(a)) => push(&mut self.v6, u128::from(a), id),
                None => return false,
            },
            IndicatorKind::Cidr => match value.parse::<ipnet::IpNet>() {
                Ok(ipnet::IpNet::V4(n)) => {
                    let p = n.prefix_len();
                    let slot = match self.nets4.iter().position(|(l, _)| *l == p) {
                        Some(i) => i,
                        None => {
                            self.nets4.push((p, HashMap::new()));
                            self.nets4.sort_by_key(|n| std::cmp::Reverse(n.0));
                            self.nets4.iter().position(|(l, _)| *l == p).unwrap_or(0)
                        }
                    };
                    push(
                        &mut self.nets4[slot].1,
                        mask4(u32::from(n.network()), p),
                        id,
                    );
                }
                Ok(ipnet::IpNet::V6(n)) => {
                    let p = n.prefix_len();
                    let slot = match self.nets6.iter().position(|(l, _)| *l == p) {
                        Some(i) => i,
                        None => {
                            self.nets6.push((p, HashMap::new()));
                            self.nets6.sort_by_key(|n| std::cmp::Reverse(n.0));
                            self.nets6.iter().position(|(l, _)| *l == p).unwrap_or(0)
                        }
                    };
                    push(
                        &mut self.nets6[slot].1,
                        mask6(u128::from(n.network()), p),
                        id,
                    );
                }
                Err(_) => return false,
            },
            IndicatorKind::Domain => push(&mut self.domains, FoldKey(value.into()), id),
            IndicatorKind::Url => push(&mut self.urls, value.into(), id),
            IndicatorKind::Email => push(&mut self.emails, FoldKey(value.into()), id),
            IndicatorKind::Md5 => match decode_hex::<16>(value) {
                Some(h) => push(&mut self.md5, h, id),
                None => return false,
            },
            IndicatorKind::Sha1 => match decode_hex::<20>(value) {
                Some(h) => push(&mut self.sha1, h, id),
                None => return false,
            },
            IndicatorKind::Sha256 => match decode_hex::<32>(value) {
                Some(h) => push(&mut self.sha256, h, id),
                None => return false,
            },
        }
        self.len += 1;
        true
    }

    pub(crate) fn ip(&self, ip: IpAddr, f: &mut impl FnMut(u32)) {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                if let Some(ids) = self.v4.get(&a) {
                    ids.iter().for_each(|i| f(*i));
                }
                for (p, m) in &self.nets4 {
                    if let Some(ids) = m.get(&mask4(a, *p)) {
                        ids.iter().for_each(|i| f(*i));
                    }
                }
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                if let Some(ids) = self.v6.get(&a) {
                    ids.iter().for_each(|i| f(*i));
                }
                for (p, m) in &self.nets6 {
                    if let Some(ids) = m.get(&mask6(a, *p)) {
                        ids.iter().for_each(|i| f(*i));
                    }
                }
            }
        }
    }

    /// The domain and each parent with at least two labels.
    pub(crate) fn domain(&self, d: &str, f: &mut impl FnMut(u32)) {
        if self.domains.is_empty() {
            return;
        }
        let mut d = d.trim().trim_end_matches('.');
        loop {
            let Some(dot) = d.find('.') else {
                return;
            };
            if let Some(ids) = self.domains.get(&Folded(d)) {
                ids.iter().for_each(|i| f(*i));
            }
            d = &d[dot + 1..];
        }
    }

    pub(crate) fn hash(&self, h: &str, f: &mut impl FnMut(u32)) {
        let h = h.trim();
        let ids = match h.len() {
            32 => decode_hex::<16>(h).and_then(|k| self.md5.get(&k)),
            40 => decode_hex::<20>(h).and_then(|k| self.sha1.get(&k)),
            64 => decode_hex::<32>(h).and_then(|k| self.sha256.get(&k)),
            _ => None,
        };
        if let Some(ids) = ids {
            ids.iter().for_each(|i| f(*i));
        }
    }

    pub(crate) fn email(&self, e: &str, f: &mut impl FnMut(u32)) {
        if let Some(ids) = self.emails.get(&Folded(e.trim())) {
            ids.iter().for_each(|i| f(*i));
        }
    }

    pub(crate) fn url(&self, u: &str, f: &mut impl FnMut(u32)) {
        if self.urls.is_empty() {
            return;
        }
        if let Ok(n) = normalise_url(u)
            && let Some(ids) = self.urls.get(n.as_ref())
        {
            ids.iter().for_each(|i| f(*i));
        }
    }

    pub(crate) fn any(&self, kind: IndicatorKind, value: &str) -> bool {
        let mut hit = false;
        let mut f = |_| hit = true;
        match kind {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => {
                if let Some(ip) = parse_ip(value) {
                    self.ip(ip, &mut f);
                }
            }
            IndicatorKind::Cidr => {
                // A network is allowed when its network address is.
                if let Ok(n) = value.parse::<ipnet::IpNet>() {
                    self.ip(n.network(), &mut f);
                }
            }
            IndicatorKind::Domain => self.domain(value, &mut f),
            IndicatorKind::Url => self.url(value, &mut f),
            IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
                self.hash(value, &mut f)
            }
            IndicatorKind::Email => self.email(value, &mut f),
        }
        hit
    }
}
