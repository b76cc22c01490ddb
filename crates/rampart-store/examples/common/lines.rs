//! The synthetic syslog mix of `rampart bench`, shared by the store examples.

use rampart_model::Timestamp;

/// A cheap deterministic generator (xorshift), so runs are comparable.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// Line `i` of `rampart bench`'s mix (50 events per second of event time).
pub fn line(rng: &mut Rng, i: u64) -> String {
    let ts = Timestamp::from_secs(1_700_000_000 + (i / 50) as i64).to_rfc3339();
    let host = rng.range(0, 200);
    let user = rng.range(0, 5000);
    let ip = format!(
        "10.{}.{}.{}",
        rng.range(0, 4),
        rng.range(0, 256),
        rng.range(1, 255)
    );
    let pid = rng.range(100, 65000);
    match rng.range(0, 6) {
        0 | 1 => format!(
            "<38>1 {ts} host{host} sshd {pid} - - Failed password for user{user} from {ip} port {} ssh2",
            rng.range(1024, 65535)
        ),
        2 => format!(
            "<38>1 {ts} host{host} sshd {pid} - - Accepted publickey for user{user} from {ip} port {} ssh2",
            rng.range(1024, 65535)
        ),
        3 => {
            format!("<78>1 {ts} host{host} CRON {pid} - - (root) CMD (run-parts /etc/cron.hourly)")
        }
        4 => format!(
            "<85>1 {ts} host{host} sudo {pid} - - user{user} : TTY=pts/0 ; PWD=/home/user{user} ; USER=root ; COMMAND=/usr/bin/systemctl status nginx"
        ),
        _ => format!(
            "<134>1 {ts} fw{} firewall - - - CEF:0|Acme|FW|1.0|100|connection allowed|3|src={ip} dst=93.184.216.{} dpt=443 proto=TCP out={} act=allow",
            host % 4,
            rng.range(1, 255),
            rng.range(100, 100000)
        ),
    }
}

/// Parse the first `n` lines of the mix and send them in 1,000-event batches until done or
/// the receiver is gone (the loading thread of the store examples).
pub fn send_parsed(
    parser: &rampart_parse::Parser,
    origin: &rampart_model::Origin,
    n: u64,
    tx: &std::sync::mpsc::SyncSender<Vec<rampart_model::Event>>,
) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut i = 0u64;
    while i < n {
        let end = (i + 1000).min(n);
        let batch = (i..end)
            .map(|k| parser.parse(line(&mut rng, k).as_bytes(), origin.clone()))
            .collect();
        if tx.send(batch).is_err() {
            return;
        }
        i = end;
    }
}
