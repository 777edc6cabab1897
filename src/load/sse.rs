//! An incremental parser for `text/event-stream`, as the WHATWG HTML standard interprets one
//! ("Server-sent events", interpreting an event stream).
//!
//! Bytes go in as they arrive, in chunks of any size; complete events come out of the
//! [`Parser::feed`] call whose bytes completed them, so a caller can stamp each event with
//! the arrival time of its chunk.

/// The UTF-8 byte order mark: the decoder strips one, at the very start of the stream only.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `message` when the event set none.
    pub event: String,
    /// Every `data:` line of the event, joined with `\n`.
    pub data: String,
    /// The stream's last event id when the event was dispatched (ids persist across events).
    pub id: String,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// The current line, until its end arrives.
    line: Vec<u8>,
    /// The last chunk ended in CR: an LF starting the next one belongs to that line end.
    after_cr: bool,
    /// The first line has been seen, so a BOM is content from now on.
    bom_checked: bool,
    data: String,
    event: String,
    id: String,
    retry_ms: Option<u64>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reconnection time the stream last set with a valid `retry:` field.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Take the next bytes of the stream; returns the events they completed, in order.
    /// An event still open when the stream ends is never dispatched, as the standard says.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            if self.line.is_empty() {
                self.line_done(&bytes[..end], &mut out);
            } else {
                self.line.extend_from_slice(&bytes[..end]);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, &mut out);
                self.line = line;
                self.line.clear();
            }
            // CR, LF and CRLF each end a line; a CR that ends the chunk ends its line now,
            // so a CR-framed event is not held back waiting for the next byte.
            let mut next = end + 1;
            if bytes[end] == b'\r' {
                if bytes.get(next) == Some(&b'\n') {
                    next += 1;
                } else if next == bytes.len() {
                    self.after_cr = true;
                }
            }
            bytes = &bytes[next..];
        }
        self.line.extend_from_slice(bytes);
        out
    }

    fn line_done(&mut self, mut line: &[u8], out: &mut Vec<Event>) {
        if !self.bom_checked {
            self.bom_checked = true;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        // Splitting bytes at ASCII `:` and space before decoding matches decoding first:
        // neither byte occurs inside a multi-byte UTF-8 sequence.
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return, // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            b"id" if !value.contains(&0) => self.id = String::from_utf8_lossy(value).into_owned(),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Digits only, so valid UTF-8; a number too large for u64 is ignored.
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        out.push(Event {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, stream, events as (event, data, id), retry after the stream)
    type Case = (
        &'static str,
        &'static [u8],
        &'static [(&'static str, &'static str, &'static str)],
        Option<u64>,
    );

    /// Streams from the standard's examples and parsing rules, with the events each gives.
    const CASES: &[Case] = &[
        (
            "spec: stock example, two lines of data joined with LF",
            b"data: This is the first message.\n\ndata: This is the second message, it\ndata: has two lines.\n\ndata: This is the third message.\n\n",
            &[
                ("message", "This is the first message.", ""),
                ("message", "This is the second message, it\nhas two lines.", ""),
                ("message", "This is the third message.", ""),
            ],
            None,
        ),
        (
            "spec: event types",
            b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
            &[
                ("add", "73857293", ""),
                ("remove", "2153", ""),
                ("add", "113411", ""),
            ],
            None,
        ),
        (
            "spec: comment, ids, no space after colon, two spaces keep one",
            b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
            &[
                ("message", "first event", "1"),
                ("message", "second event", ""),
                ("message", " third event", ""),
            ],
            None,
        ),
        (
            "spec: data without colon; an unterminated last block is discarded",
            b"data\n\ndata\ndata\n\ndata:",
            &[("message", "", ""), ("message", "\n", "")],
            None,
        ),
        (
            "spec: with or without the space after the colon",
            b"data:test\n\ndata: test\n\n",
            &[("message", "test", ""), ("message", "test", "")],
            None,
        ),
        (
            "CR line ends",
            b"data: a\rdata: b\r\rdata: c\r\r",
            &[("message", "a\nb", ""), ("message", "c", "")],
            None,
        ),
        (
            "CRLF line ends",
            b"data: a\r\ndata: b\r\n\r\n",
            &[("message", "a\nb", "")],
            None,
        ),
        (
            "mixed line ends; CR LF is one line end, LF CR is two",
            b"data: a\r\ndata: b\n\r\ndata: c\n\rdata: d\r\n\n",
            &[("message", "a\nb", ""), ("message", "c", ""), ("message", "d", "")],
            None,
        ),
        (
            "a trailing event without its blank line is not dispatched",
            b"data: a\n\ndata: b\n",
            &[("message", "a", "")],
            None,
        ),
        (
            "a BOM at the start is stripped",
            b"\xEF\xBB\xBFdata: a\n\n",
            &[("message", "a", "")],
            None,
        ),
        (
            "only one BOM is stripped: the second makes the field unknown",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
            &[("message", "b", "")],
            None,
        ),
        (
            "a BOM after the start is content",
            b"data: a\n\n\xEF\xBB\xBFdata: b\n\ndata: \xEF\xBB\xBFc\n\n",
            &[("message", "a", ""), ("message", "\u{FEFF}c", "")],
            None,
        ),
        (
            "comments and unknown fields are ignored, inside an event too",
            b":\n: hi\ndata: a\n:x\nfoo: bar\nDATA: no\ndata: b\n\n",
            &[("message", "a\nb", "")],
            None,
        ),
        (
            "only the first colon splits; only one leading space goes",
            b"data:: a: b\n\ndata:\t x\n\n",
            &[("message", ": a: b", ""), ("message", "\t x", "")],
            None,
        ),
        (
            "blocks without data dispatch nothing and reset the event type",
            b"event: x\n\nid: 7\n\n: only a comment\n\ndata: a\n\n",
            &[("message", "a", "7")],
            None,
        ),
        (
            "empty event field means message; an event type lasts one event",
            b"event\ndata: a\n\nevent: up\ndata: b\n\ndata: c\n\n",
            &[("message", "a", ""), ("up", "b", ""), ("message", "c", "")],
            None,
        ),
        (
            "the last event id persists; an id with NUL is ignored",
            b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x003\ndata: c\n\nid: 4\ndata: d\n\n",
            &[
                ("message", "a", "1"),
                ("message", "b", "1"),
                ("message", "c", "1"),
                ("message", "d", "4"),
            ],
            None,
        ),
        (
            "retry: digits only; anything else is ignored",
            b"retry: 1500\n\nretry: 2x\nretry:\nretry: -1\nretry: 1.5\ndata: a\n\n",
            &[("message", "a", "")],
            Some(1500),
        ),
        (
            "retry: the last valid one wins",
            b"retry: 10\nretry: 20\ndata: a\n\n",
            &[("message", "a", "")],
            Some(20),
        ),
        (
            "invalid UTF-8 becomes U+FFFD",
            b"data: a\xFFb\xE2\x82\n\n",
            &[("message", "a\u{FFFD}b\u{FFFD}", "")],
            None,
        ),
        ("an empty stream", b"", &[], None),
        (
            "an OpenAI chat stream, CR framed, JSON over two data lines",
            b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\rdata: {\"choices\":\rdata: []}\r\rdata: [DONE]\r\r",
            &[
                ("message", "{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}", ""),
                ("message", "{\"choices\":\n[]}", ""),
                ("message", "[DONE]", ""),
            ],
            None,
        ),
    ];

    fn expected(case: &Case) -> Vec<Event> {
        case.2
            .iter()
            .map(|&(event, data, id)| Event {
                event: event.into(),
                data: data.into(),
                id: id.into(),
            })
            .collect()
    }

    /// Feed `pieces` in order to a fresh parser; the events and the final retry.
    fn parse<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Event>, Option<u64>) {
        let mut p = Parser::new();
        let events = pieces.into_iter().flat_map(|b| p.feed(b)).collect();
        (events, p.retry_ms())
    }

    #[test]
    fn spec_table_parses_whole() {
        for case in CASES {
            let (events, retry) = parse([case.1]);
            assert_eq!(events, expected(case), "{}", case.0);
            assert_eq!(retry, case.3, "{}", case.0);
        }
    }

    #[test]
    fn every_split_gives_the_same_events() {
        for case in CASES {
            let (stream, want) = (case.1, (expected(case), case.3));
            for at in 0..=stream.len() {
                let (a, b) = stream.split_at(at);
                assert_eq!(parse([a, b]), want, "{} split at {at}", case.0);
                // And a further split of the tail, with an empty chunk between.
                for at2 in 0..=b.len() {
                    let (b1, b2) = b.split_at(at2);
                    assert_eq!(
                        parse([a, b1, &[][..], b2]),
                        want,
                        "{} split at {at} and {}",
                        case.0,
                        at + at2
                    );
                }
            }
            assert_eq!(parse(stream.chunks(1)), want, "{} in single bytes", case.0);
        }
    }

    #[test]
    fn an_event_comes_out_of_the_chunk_that_completes_it() {
        let mut p = Parser::new();
        assert!(p.feed(b"data: a\r").is_empty());
        // A CR ends the blank line at once: no waiting for a possible LF.
        assert_eq!(p.feed(b"\r").len(), 1);
        // The LF after a CR is part of the same line end, not another (blank) line.
        assert!(p.feed(b"\ndata: b\r").is_empty());
        assert!(p.feed(b"\ndata: c\r\n").is_empty());
        assert_eq!(p.feed(b"\r\n")[0].data, "b\nc");
    }
}
