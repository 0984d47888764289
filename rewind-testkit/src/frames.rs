//! Reply frames: rendering them for assertion messages, checking their
//! shape (`ERROR <reason>`, a v1 QUERY page, a v2 PUBLISHED reply, a
//! canonical UUID), and the data tests publish.

/// The v1 cap on events per QUERY reply.
pub const V1_PAGE: usize = 100;

/// One event of a query: (id, data).
pub type Ev = (Vec<u8>, Vec<u8>);

/// Renders frames for an assertion message.
pub fn show(frames: &[Vec<u8>]) -> String {
    let mut out = format!("{} frame(s): [", frames.len());
    for (i, f) in frames.iter().take(8).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let shown: Vec<u8> = f.iter().take(60).copied().collect();
        out.push_str(&format!("{:?}", shown.escape_ascii().to_string()));
        if f.len() > 60 {
            out.push_str(&format!("..({} bytes)", f.len()));
        }
    }
    if frames.len() > 8 {
        out.push_str(", ...");
    }
    out.push(']');
    out
}

/// Asserts `id` is a UUID in the canonical 36-character lowercase hyphenated form.
pub fn assert_canonical_uuid(id: &[u8]) {
    let text = std::str::from_utf8(id)
        .unwrap_or_else(|_| panic!("id is not text: {:?}", id.escape_ascii().to_string()));
    assert_eq!(text.len(), 36, "id {text:?} is not 36 characters");
    let parsed =
        uuid::Uuid::try_parse(text).unwrap_or_else(|e| panic!("id {text:?} is not a UUID: {e}"));
    assert_eq!(
        parsed.hyphenated().to_string(),
        text,
        "id is not in canonical lowercase form"
    );
}

/// One v1 QUERY reply, parsed and checked for shape.
#[derive(Debug)]
pub struct Page {
    /// The events of the reply: (id, data).
    pub events: Vec<Ev>,
    /// Whether the reply ended with `END` (the query is complete).
    pub end: bool,
}

/// Parses a v1 QUERY reply: id, data pairs then `END`, or exactly 100 pairs
/// without `END`. Panics on any other shape (including an ERROR reply).
pub fn parse_v1_page(frames: &[Vec<u8>]) -> Page {
    let end = frames.len() % 2 == 1;
    if end {
        assert_eq!(
            frames.last().unwrap().as_slice(),
            b"END",
            "a QUERY reply must end with END or be exactly {V1_PAGE} events; got {}",
            show(frames)
        );
        let n = frames.len() / 2;
        assert!(
            n < V1_PAGE,
            "a QUERY reply of {n} events must not carry END (at most {V1_PAGE} per reply, and no END when exactly {V1_PAGE})"
        );
    } else {
        assert_eq!(
            frames.len(),
            2 * V1_PAGE,
            "a QUERY reply without END must hold exactly {V1_PAGE} events; got {}",
            show(frames)
        );
    }
    let events = frames[..frames.len() - usize::from(end)]
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    Page { events, end }
}

/// Asserts `frames` is one error frame: `ERROR <reason>`. Returns the frame as text.
pub fn assert_error_frame(frames: &[Vec<u8>], what: &str) -> String {
    assert_eq!(
        frames.len(),
        1,
        "{what}: an error reply is a single frame; got {}",
        show(frames)
    );
    let f = &frames[0];
    assert!(
        f.starts_with(b"ERROR ") && f.len() > b"ERROR ".len(),
        "{what}: expected `ERROR <reason>`; got {}",
        show(frames)
    );
    String::from_utf8_lossy(f).into_owned()
}

/// Parses [PUBLISHED, id] and returns the id.
pub fn parse_published(reply: &[Vec<u8>]) -> Vec<u8> {
    assert!(
        reply.len() == 2 && reply[0] == b"PUBLISHED",
        "v2 PUBLISH reply must be [PUBLISHED, id]; got {}",
        show(reply)
    );
    reply[1].clone()
}

/// Data that is unique per (client, n).
pub fn tagged(client: usize, n: usize) -> Vec<u8> {
    format!("client-{client}-event-{n}").into_bytes()
}
