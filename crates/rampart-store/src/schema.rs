//! The tantivy index layout: fields, the keyword tokenizer and event → document mapping.
//!
//! | field    | type                         | holds                                             |
//! |----------|------------------------------|---------------------------------------------------|
//! | `id`     | u64 FAST                     | the high 64 bits of the event id, for lookups by id |
//! | `ts`     | i64 FAST                     | `@timestamp` in nanoseconds (ranges run on the column) |
//! | `tenant` | STRING FAST                  | the tenant                                        |
//! | `text`   | TEXT (`words` tokenizer)     | raw text, and message when not a run of its words |
//! | `f`      | JSON, `keyword_lower`, FAST  | `Event::fields` (+ `event.parse_error`)           |
//! | `src`    | stored bytes                 | the event as written to the WAL (JSON)            |
//!
//! `f` indexes every string as one lower-cased token, so `field:value` is an exact,
//! case-insensitive whole-value match, while its fast columns keep the original text for
//! aggregations. Dots in keys are expanded, so `{"user.name": …}` and
//! `{"user": {"name": …}}` are the same path. The document store is zstd-compressed
//! in 64 KiB blocks.

use rampart_model::Event;
use serde_json::Value;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, IndexSettings, TantivyDocument};

/// Name of the tokenizer that makes one lower-cased token of a whole value.
pub(crate) const KEYWORD_LOWER: &str = "keyword_lower";
/// Name of the free-text tokenizer: runs of letters and digits, lower-cased — the word
/// definition of `rampart_query::text::words` (tantivy's "default" would drop words longer
/// than 40 bytes, such as hashes).
pub(crate) const WORDS: &str = "words";
/// Values longer than this (bytes) are not indexed as keyword terms (tantivy's term limit
/// is 65 530 bytes); they remain in the stored event and in the free-text field.
const MAX_KEYWORD_LEN: usize = 32 * 1024;

/// Uncompressed size of a document-store block (see `index_settings`).
const DOCSTORE_BLOCK_BYTES: usize = 64 * 1024;

/// The high half of the event id: a column, not a term (one unique term per event would
/// grow the term dictionary, and every merge, by one entry per event). Ids are UUIDv7,
/// whose high bits are the creation time, so a segment's min/max prune lookups.
pub(crate) const F_ID: &str = "id";
pub(crate) const F_TS: &str = "ts";
pub(crate) const F_TENANT: &str = "tenant";
pub(crate) const F_TEXT: &str = "text";
pub(crate) const F_FIELDS: &str = "f";
pub(crate) const F_SRC: &str = "src";

/// Handles on the schema's fields.
#[derive(Clone)]
pub(crate) struct Fields {
    pub id: Field,
    pub ts: Field,
    pub tenant: Field,
    pub text: Field,
    pub f: Field,
    pub src: Field,
}

pub(crate) fn build_schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field(F_ID, FAST);
    // Not indexed: a unique term per event costs the term dictionary (and every merge) far
    // more than range scans over the column, which tantivy uses for fast fields.
    b.add_i64_field(F_TS, FAST);
    b.add_text_field(F_TENANT, STRING | FAST);
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field(F_TEXT, text);
    let json = JsonObjectOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(KEYWORD_LOWER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        )
        .set_fast("raw")
        .set_expand_dots_enabled();
    b.add_json_field(F_FIELDS, json);
    b.add_bytes_field(F_SRC, STORED);
    b.build()
}

impl Fields {
    pub(crate) fn new(schema: Schema) -> Result<Self, tantivy::TantivyError> {
        Ok(Fields {
            id: schema.get_field(F_ID)?,
            ts: schema.get_field(F_TS)?,
            tenant: schema.get_field(F_TENANT)?,
            text: schema.get_field(F_TEXT)?,
            f: schema.get_field(F_FIELDS)?,
            src: schema.get_field(F_SRC)?,
        })
    }
}

pub(crate) fn index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(3),
        }),
        // 64 KiB blocks rather than tantivy's 16 KiB: measured on 2 M synthetic syslog
        // events, 224 bytes on disk per event instead of 264 and a quarter of the zstd
        // contexts created while indexing, for a selective search p50 of 1.6 ms instead
        // of 1.1 ms (a hit decompresses a larger block). Set when an index is created.
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..IndexSettings::default()
    }
}

/// Register the tokenizers the schema names. Must run on every opened index.
pub(crate) fn register_tokenizers(index: &Index) {
    index.tokenizers().register(
        WORDS,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_KEYWORD_LEN))
            .filter(LowerCaser)
            .build(),
    );
    index.tokenizers().register(
        KEYWORD_LOWER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_KEYWORD_LEN))
            .filter(LowerCaser)
            .build(),
    );
}

/// Whether `needle` occurs in `haystack` with no word character right before or after it,
/// so that the words of `needle` are consecutive words of `haystack`.
pub(crate) fn contains_at_word_bounds(haystack: &str, needle: &str) -> bool {
    use rampart_query::text::is_word_char;
    // The usual case: a syslog message is the end of its raw line.
    if let Some(before) = haystack.strip_suffix(needle)
        && (!before.chars().next_back().is_some_and(is_word_char)
            || !needle.chars().next().is_some_and(is_word_char))
    {
        return true;
    }
    let mut from = 0;
    while let Some(i) = haystack.get(from..).and_then(|h| h.find(needle)) {
        let start = from + i;
        let end = start + needle.len();
        let before_ok = !haystack[..start]
            .chars()
            .next_back()
            .is_some_and(is_word_char)
            || !needle.chars().next().is_some_and(is_word_char);
        let after_ok = !haystack[end..].chars().next().is_some_and(is_word_char)
            || !needle.chars().next_back().is_some_and(is_word_char);
        if before_ok && after_ok {
            return true;
        }
        // Step past the first character of this occurrence.
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The value of the `id` column for `id`: its high 64 bits (time and version for UUIDv7).
pub(crate) fn id_key(id: rampart_model::EventId) -> u64 {
    id.0.as_u64_pair().0
}

/// Build the index document of `event`; `src` is its serialised form.
pub(crate) fn to_document(fields: &Fields, event: &Event, src: &[u8]) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_u64(fields.id, id_key(event.id));
    doc.add_i64(fields.ts, event.timestamp.nanos());
    doc.add_text(fields.tenant, &event.tenant);
    // Free text: the raw record, plus the message an analyst reads unless its words are
    // already a run of the raw record's words (then every word or phrase of the message
    // matches the raw text too, and tokenising it again only costs).
    let raw = event.raw.as_text();
    if let Some(Value::String(message)) = rampart_model::get_path(&event.fields, "message")
        && !contains_at_word_bounds(&raw, message)
    {
        doc.add_text(fields.text, message);
    }
    doc.add_text(fields.text, raw.as_ref());
    // The fields are read in place (the event is shared with stream consumers); a parse
    // error is a second object of the same field, which indexes the same paths as one
    // merged object would.
    doc.add_field_value(fields.f, JsonRef::Map(&event.fields));
    if let Some(err) = &event.parse_error {
        let mut extra = serde_json::Map::new();
        rampart_model::insert_path(&mut extra, "event.parse_error", Value::String(err.clone()));
        doc.add_field_value(fields.f, JsonRef::Map(&extra));
    }
    doc.add_bytes(fields.src, src);
    doc
}

/// A borrowed JSON value as tantivy reads document values: an object given as a map, or
/// any value. Leaves are read as tantivy reads `&serde_json::Value` (the same terms and
/// columns as before the event was shared).
#[derive(Debug, Clone, Copy)]
enum JsonRef<'a> {
    Map(&'a serde_json::Map<String, Value>),
    Value(&'a Value),
}

type JsonArrayIter<'a> = std::iter::Map<std::slice::Iter<'a, Value>, fn(&'a Value) -> JsonRef<'a>>;
type JsonObjectIter<'a> = std::iter::FilterMap<
    serde_json::map::Iter<'a>,
    fn((&'a String, &'a Value)) -> Option<(&'a str, JsonRef<'a>)>,
>;

/// An object member as tantivy indexes it. Keys holding NUL or U+0001 are left out of the
/// index: those bytes are tantivy's own JSON-path separators, and such a key would make a
/// term whose path ends early and whose type byte is garbage (found by fuzzing: a query
/// for one panicked in tantivy). The member stays in the stored event; no query can name
/// it (`rampart_query` refuses control characters).
fn json_entry<'a>((k, v): (&'a String, &'a Value)) -> Option<(&'a str, JsonRef<'a>)> {
    (!k.bytes().any(|b| b <= 1)).then_some((k.as_str(), JsonRef::Value(v)))
}

impl<'a> tantivy::schema::Value<'a> for JsonRef<'a> {
    type ArrayIter = JsonArrayIter<'a>;
    type ObjectIter = JsonObjectIter<'a>;

    fn as_value(&self) -> tantivy::schema::document::ReferenceValue<'a, Self> {
        use tantivy::schema::document::ReferenceValue;
        let object = |m: &'a serde_json::Map<String, Value>| {
            ReferenceValue::Object(m.iter().filter_map(json_entry as fn(_) -> _))
        };
        match *self {
            JsonRef::Map(m) => object(m),
            JsonRef::Value(Value::Object(m)) => object(m),
            JsonRef::Value(Value::Array(a)) => {
                ReferenceValue::Array(a.iter().map(JsonRef::Value as fn(_) -> _))
            }
            JsonRef::Value(v) => match tantivy::schema::Value::as_value(&v) {
                ReferenceValue::Leaf(leaf) => ReferenceValue::Leaf(leaf),
                // Arrays and objects are handled above.
                ReferenceValue::Array(_) | ReferenceValue::Object(_) => {
                    ReferenceValue::Leaf(tantivy::schema::document::ReferenceValueLeaf::Null)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_at_word_bounds;

    #[test]
    fn message_containment_respects_word_bounds() {
        // (haystack, needle, expected)
        let cases = [
            (
                "<38>Mar 1 h sshd[1]: Failed password for root",
                "Failed password for root",
                true,
            ),
            ("xFailed password", "Failed password", false),
            ("Failed passwords", "Failed password", false),
            (
                "a Failed passwordy Failed password",
                "Failed password",
                true,
            ),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("x: -- y", ": --", true),
            ("é café", "café", true),
            ("écafé", "café", false),
            ("anything", "", true),
            // At the end, as a syslog message usually is.
            ("<38>h sshd[1]: Accepted key", "Accepted key", true),
            ("xAccepted key", "Accepted key", false),
            ("Accepted key x Accepted key", "Accepted key", true),
            ("a -- Accepted key", "-- Accepted key", true),
        ];
        for (haystack, needle, expected) in cases {
            assert_eq!(
                contains_at_word_bounds(haystack, needle),
                expected,
                "{needle:?} in {haystack:?}"
            );
        }
    }
}
