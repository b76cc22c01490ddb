//! Text helpers shared by the parser and the evaluator: wildcards, words, escapes, CIDR.

use std::net::IpAddr;

/// Characters a backslash escapes in a query. Before anything else a backslash is an
/// ordinary character, so Windows paths (`C:\Windows\System32`) need no doubling.
pub fn is_escapable(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\\' | '('
                | ')'
                | ':'
                | '<'
                | '>'
                | '"'
                | '*'
                | '?'
                | '{'
                | '}'
                | '['
                | ']'
                | '|'
                | '/'
                | '!'
                | '-'
                | '+'
                | '&'
                | '='
                | ','
                | '^'
                | '~'
        )
}

/// Whether `c` belongs to a word when text is split into words (letters and digits).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// The words of `text`: maximal runs of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = &str> + Clone {
    fn not_word(c: char) -> bool {
        !is_word_char(c)
    }
    fn non_empty(w: &&str) -> bool {
        !w.is_empty()
    }
    text.split(not_word as fn(char) -> bool)
        .filter(non_empty as fn(&&str) -> bool)
}

/// Case-insensitive equality without allocating (Unicode lowercase).
pub fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Case-insensitive ordering without allocating.
pub fn cmp_ci(a: &str, b: &str) -> std::cmp::Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// One element of a wildcard pattern.
#[derive(Debug, Clone, PartialEq)]
enum GlobTok {
    Char(char),
    One,
    Star,
}

/// A compiled `*`/`?` pattern, matched case-insensitively against a whole string.
/// In the pattern `\*`, `\?` and `\\` are literal characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    toks: Vec<GlobTok>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let mut toks = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let tok = match c {
                '\\' => GlobTok::Char(lower(chars.next().unwrap_or('\\'))),
                '*' => {
                    if toks.last() == Some(&GlobTok::Star) {
                        continue;
                    }
                    GlobTok::Star
                }
                '?' => GlobTok::One,
                c => GlobTok::Char(lower(c)),
            };
            toks.push(tok);
        }
        Glob { toks }
    }

    /// Whether the whole of `text` matches (iterative, no backtracking blow-up).
    pub fn matches(&self, text: &str) -> bool {
        let toks = &self.toks;
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            let next = text[t..].chars().next();
            match (toks.get(p), next) {
                (Some(GlobTok::Star), _) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                (Some(GlobTok::One), Some(c)) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                (Some(GlobTok::Char(pc)), Some(c)) if *pc == lower(c) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            // Mismatch: let the last star swallow one more character.
            match star {
                Some((sp, st)) => match text[st..].chars().next() {
                    Some(c) => {
                        let nt = st + c.len_utf8();
                        star = Some((sp, nt));
                        p = sp + 1;
                        t = nt;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

/// Whether `text` holds an unescaped `*` or `?`.
pub fn has_wildcard(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// Remove the escapes of a pattern written in wildcard form (`\*` → `*`, `\\` → `\`).
pub fn unescape_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().unwrap_or('\\'));
        } else {
            out.push(c);
        }
    }
    out
}

/// One piece of a free-text term: a word, or a word with wildcards.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Lowercased word.
    Word(String),
    Glob(Glob),
}

impl Piece {
    pub fn matches(&self, word: &str) -> bool {
        match self {
            Piece::Word(w) => eq_ci(word, w),
            Piece::Glob(g) => g.matches(word),
        }
    }
}

/// Split a free-text term (wildcard form) or phrase into pieces the way text is split into
/// words. `allow_wildcards` is false for phrases, where `*` and `?` are plain punctuation.
pub fn pieces(text: &str, allow_wildcards: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut wild = false;
    let flush = |cur: &mut String, wild: &mut bool, out: &mut Vec<Piece>| {
        if cur.is_empty() {
            return;
        }
        let piece = if *wild {
            Piece::Glob(Glob::new(cur))
        } else {
            Piece::Word(cur.to_lowercase())
        };
        out.push(piece);
        cur.clear();
        *wild = false;
    };
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if allow_wildcards => match chars.next() {
                Some(e) if is_word_char(e) => cur.push(e),
                _ => flush(&mut cur, &mut wild, &mut out),
            },
            '*' | '?' if allow_wildcards => {
                cur.push(c);
                wild = true;
            }
            c if is_word_char(c) => cur.push(c),
            _ => flush(&mut cur, &mut wild, &mut out),
        }
    }
    flush(&mut cur, &mut wild, &mut out);
    out
}

/// Whether consecutive words of `text` match `pieces` in order.
pub fn contains_pieces(text: &str, pieces: &[Piece]) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return false;
    };
    let mut it = words(text);
    while let Some(word) = it.next() {
        if first.matches(word) {
            let mut follow = it.clone();
            if rest
                .iter()
                .all(|p| follow.next().is_some_and(|w| p.matches(w)))
            {
                return true;
            }
        }
    }
    false
}

/// An IP network written as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` lies inside the network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) if self.addr.is_ipv4() => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (_, ip) => {
                let (IpAddr::V6(net), ip6) = (self.addr, ip) else {
                    return false;
                };
                let ip6 = match ip6 {
                    IpAddr::V6(v6) => v6,
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                };
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip6) & mask
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_value_case_insensitively() {
        let cases = [
            ("svc_*", "SVC_backup", true),
            ("svc_*", "xsvc_backup", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*.exe", "C:\\Windows\\cmd.EXE", true),
            ("*\\\\cmd.exe", "C:\\Windows\\cmd.exe", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("é*", "Éclair", true),
            ("**a", "ba", true),
            ("?", "é", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                Glob::new(pattern).matches(text),
                want,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn pieces_and_phrases() {
        let cases = [
            ("Failed password", false, "Failed password for root", true),
            ("failed PASSWORD", false, "x failed, password!", true),
            ("password failed", false, "Failed password", false),
            ("pass", false, "password", false),
            ("svc_*", true, "user svc_backup logged", true),
            ("10.0.0.1", true, "from 10.0.0.1 port", true),
            ("10.0.0.1", true, "from 10.0.0.11 port", false),
            ("fail*", true, "FAILURE here", true),
            ("", true, "anything", false),
        ];
        for (query, wild, text, want) in cases {
            let p = pieces(query, wild);
            assert_eq!(contains_pieces(text, &p), want, "{query} in {text}");
        }
    }

    #[test]
    fn cidr_containment() {
        let cases = [
            ("10.0.0.0/8", "10.20.30.40", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "1.2.3.4", true),
            ("192.168.1.7/32", "192.168.1.7", true),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("::/0", "10.0.0.1", true),
            ("10.0.0.0/8", "2001:db8::1", false),
        ];
        for (net, ip, want) in cases {
            let cidr = Cidr::parse(net).expect(net);
            let ip: IpAddr = ip.parse().expect(ip);
            assert_eq!(cidr.contains(ip), want, "{net} contains {ip}");
        }
        for bad in ["10.0.0.0/33", "10.0.0.0/", "x/8", "10.0.0.0/+8", "10.0.0.0"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
