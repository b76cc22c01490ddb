//! Detections derived from several events: correlation firings and baseline anomalies, with their group or entity values mapped onto the detection's entity columns.

use rampart_detect::CorrelationFiring;
use rampart_detect::baseline::{Anomaly, AnomalyKind};
use rampart_model::{Event, EventId, Timestamp};
use serde_json::{Map, Value};

use crate::record::{
    DetectionData, DetectionKind, GroupValue, key_fields, level_of, rule_key, shorten,
};

/// Which entity column a group-by or entity field fills: ECS names first, then the EVTX
/// names Sigma rules use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Host,
    User,
    SourceIp,
    DestinationIp,
    Process,
    FileHash,
}

fn slot(field: &str) -> Option<Slot> {
    let name = field.trim();
    let name = name
        .strip_prefix("Event.EventData.")
        .or_else(|| name.strip_prefix("Event.System."))
        .unwrap_or(name);
    Some(match name {
        "host.name" | "host.hostname" | "Computer" | "ComputerName" | "Hostname" => Slot::Host,
        "user.name" | "TargetUserName" | "SubjectUserName" | "User" | "UserName" => Slot::User,
        "source.ip" | "IpAddress" | "SourceIp" | "SourceAddress" | "src_ip" => Slot::SourceIp,
        "destination.ip" | "DestinationIp" | "DestAddress" | "dst_ip" => Slot::DestinationIp,
        "process.name" | "process.executable" | "Image" | "NewProcessName" => Slot::Process,
        "file.hash.sha256"
        | "file.hash.sha1"
        | "file.hash.md5"
        | "process.hash.sha256"
        | "process.hash.sha1"
        | "process.hash.md5" => Slot::FileHash,
        _ => return None,
    })
}

fn event_id(reference: u128) -> EventId {
    EventId(uuid::Uuid::from_u128(reference))
}

/// A detection with no entity yet, of `kind` and rule `meta`.
fn empty(
    kind: DetectionKind,
    meta: &rampart_detect::RuleMeta,
    tenant: &str,
    time: Timestamp,
) -> DetectionData {
    DetectionData {
        kind,
        rule_id: rule_key(meta).to_owned(),
        rule_title: meta.title.clone(),
        level: level_of(meta),
        tags: meta.tags.clone(),
        event_id: None,
        event_time: time,
        tenant: tenant.to_owned(),
        host: None,
        user: None,
        source_ip: None,
        destination_ip: None,
        process_name: None,
        command_line: None,
        file_hash: None,
        fields: Map::new(),
        group: Vec::new(),
        window_start: None,
        window_end: None,
        value: None,
        score: None,
        event_ids: Vec::new(),
    }
}

/// Fill the entity columns from the group values, first value per column wins.
fn set_group(d: &mut DetectionData, pairs: &[(String, String)]) {
    for (field, value) in pairs {
        let value = shorten(value.clone());
        if let Some(s) = slot(field) {
            let column = match s {
                Slot::Host => &mut d.host,
                Slot::User => &mut d.user,
                Slot::SourceIp => &mut d.source_ip,
                Slot::DestinationIp => &mut d.destination_ip,
                Slot::Process => &mut d.process_name,
                Slot::FileHash => &mut d.file_hash,
            };
            if column.is_none() && !value.is_empty() {
                *column = Some(value.clone());
            }
        }
        d.group.push(GroupValue {
            field: field.clone(),
            value,
        });
    }
}

/// A finite number as JSON (NaN and infinities are not JSON numbers).
fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

impl DetectionData {
    /// The detection of a correlation firing; `trigger` is the event that made it fire.
    /// The entity columns come from the group values only, so repeats of one group are
    /// one entity set (for triage's deduplication).
    pub fn from_firing(firing: &CorrelationFiring, trigger: &Event) -> DetectionData {
        let mut d = empty(
            DetectionKind::Correlation,
            &firing.rule,
            &trigger.tenant,
            trigger.timestamp,
        );
        d.event_id = Some(trigger.id);
        set_group(&mut d, &firing.group);
        d.fields = key_fields(trigger);
        d.fields.insert(
            "correlation.type".into(),
            Value::String(firing.kind.as_str().to_owned()),
        );
        d.window_start = Some(Timestamp::from_nanos(firing.window_start_nanos));
        d.window_end = Some(Timestamp::from_nanos(firing.window_end_nanos));
        d.value = Some(firing.value).filter(|v| v.is_finite());
        d.event_ids = firing.event_refs.iter().map(|r| event_id(*r)).collect();
        d
    }

    /// The detection of a baseline anomaly. `trigger` is the event being observed when it
    /// was found (`None` when the clock closed the bucket); it is the detection's event
    /// only for a first-seen value. `tenant` is used when there is no trigger.
    pub fn from_anomaly(anomaly: &Anomaly, trigger: Option<&Event>, tenant: &str) -> DetectionData {
        let first_seen = anomaly.kind == AnomalyKind::FirstSeen;
        let time = match (first_seen, trigger) {
            (true, Some(ev)) => ev.timestamp,
            _ => Timestamp::from_nanos(anomaly.bucket_start_nanos),
        };
        let tenant = trigger.map_or(tenant, |ev| ev.tenant.as_str());
        let mut d = empty(DetectionKind::Baseline, &anomaly.rule, tenant, time);
        set_group(&mut d, &anomaly.entity);
        if first_seen && let Some(ev) = trigger {
            d.event_id = Some(ev.id);
            d.fields = key_fields(ev);
        }
        let kind = match anomaly.kind {
            AnomalyKind::High => "high",
            AnomalyKind::Low => "low",
            AnomalyKind::FirstSeen => "first_seen",
        };
        d.fields
            .insert("baseline.kind".into(), Value::String(kind.into()));
        if !first_seen {
            d.fields
                .insert("baseline.expected".into(), number(anomaly.expected));
            d.fields
                .insert("baseline.spread".into(), number(anomaly.spread));
            d.score = Some(anomaly.score).filter(|v| v.is_finite());
        }
        d.fields.insert(
            "baseline.history_buckets".into(),
            Value::from(anomaly.history_buckets as u64),
        );
        for (field, value) in &anomaly.value {
            d.fields.insert(
                format!("baseline.new.{field}"),
                Value::String(shorten(value.clone())),
            );
        }
        d.window_start = Some(Timestamp::from_nanos(anomaly.bucket_start_nanos));
        d.window_end = Some(Timestamp::from_nanos(anomaly.bucket_end_nanos));
        d.value = Some(anomaly.observed).filter(|v| v.is_finite());
        d.event_ids = anomaly.event_refs.iter().map(|r| event_id(*r)).collect();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Group pairs, and the host, user and source IP columns they fill.
    type Case = (
        &'static [(&'static str, &'static str)],
        [Option<&'static str>; 3],
    );

    #[test]
    fn group_fields_fill_entity_columns() {
        let cases: [Case; 4] = [
            (
                &[("source.ip", "203.0.113.7")],
                [None, None, Some("203.0.113.7")],
            ),
            (
                &[("user.name", "root"), ("host.name", "web1")],
                [Some("web1"), Some("root"), None],
            ),
            (
                &[("Computer", "WIN-1"), ("TargetUserName", "eve")],
                [Some("WIN-1"), Some("eve"), None],
            ),
            (
                &[("Event.EventData.IpAddress", "10.0.0.5"), ("other", "x")],
                [None, None, Some("10.0.0.5")],
            ),
        ];
        for (pairs, [host, user, ip]) in cases {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
                .collect();
            let mut d = empty(
                DetectionKind::Correlation,
                &rampart_detect::RuleMeta::default(),
                "t",
                Timestamp::from_secs(0),
            );
            set_group(&mut d, &pairs);
            assert_eq!(
                (d.host.as_deref(), d.user.as_deref(), d.source_ip.as_deref()),
                (host, user, ip),
                "{pairs:?}"
            );
            assert_eq!(d.group.len(), pairs.len());
        }
    }
}
