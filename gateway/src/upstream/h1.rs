//! The carrier side's HTTP/1.1 codec (issue 17): the request written in one piece, the answer's
//! head parsed by httparse into a stack array (no `HeaderMap`), its body read as framed
//! (content-length, chunked, or until close), all on the request's own task.
//!
//! Only the carrier, a trusted single origin, is spoken to this way; hostile input arrives on
//! the client side, which stays on hyper. Still, an answer that could be framed two ways
//! (`Content-Length` with `Transfer-Encoding`, two different lengths, a coding other than
//! chunked) is refused rather than guessed at: a proxy that guesses differently from the next
//! hop is how responses get smuggled onto the wrong request.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest answer head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most answer headers accepted (the carrier sends about ten).
const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (hex size and extensions).
const MAX_CHUNK_LINE: usize = 1024;
/// Largest trailer section of a chunked answer.
const MAX_TRAILERS: usize = 16 * 1024;
/// Bodies up to this size are copied behind the head and written with it in one call; larger
/// ones go in a second write rather than being copied.
const COALESCE: usize = 16 * 1024;
/// Room left in the read buffer before an answer is read: an answer up to this size (a
/// timeline is ~2 KiB, a list of pickup points ~9 KiB) comes in with one read. With 1 KiB, as
/// before, one tracking answer in three and every pickup answer took a second `recvfrom`
/// (issue 17: 2.32 and 2.99 reads per request against nginx's 1.96).
pub(super) const READ_ROOM: usize = 16 * 1024;
/// What is reserved when less than `READ_ROOM` is left: answers are split off the buffer as
/// they are read, so one allocation serves several small answers.
const READ_CHUNK: usize = 32 * 1024;

/// Why an exchange with the carrier failed.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The connection ended before a complete answer.
    Closed,
    Io(std::io::Error),
    /// The answer is not HTTP/1.1 as this codec accepts it.
    Malformed(&'static str),
    /// The answer's body is larger than the limit.
    TooLarge,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Closed => f.write_str("the carrier closed the connection before answering"),
            Fault::Io(e) => write!(f, "carrier connection: {e}"),
            Fault::Malformed(what) => write!(f, "malformed answer from the carrier: {what}"),
            Fault::TooLarge => f.write_str("the carrier's answer is too large"),
        }
    }
}

/// An answer read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub content_disposition: Option<HeaderValue>,
    pub body: Bytes,
    /// Whether the connection may carry the next request.
    pub reusable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    content_disposition: Option<HeaderValue>,
    framing: Framing,
    keep_alive: bool,
}

/// Writes a request: `head` (request line and headers, ending with the blank line) then `body`.
/// `head` is the connection's own write buffer: small bodies are appended to it and go out
/// with the head in one write.
pub(super) async fn write_request<S: AsyncWrite + Unpin>(
    io: &mut S,
    head: &mut Vec<u8>,
    body: &[u8],
) -> std::io::Result<()> {
    if body.len() <= COALESCE {
        head.extend_from_slice(body);
        io.write_all(head).await?;
    } else {
        io.write_all(head).await?;
        io.write_all(body).await?;
    }
    io.flush().await
}

/// Reads one answer; `buf` holds what was read past it (nothing, from a well-behaved carrier).
pub(crate) async fn read_answer<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Answer, Fault> {
    let head = read_head(io, buf, max_body).await?;
    let (body, reusable) = match head.framing {
        Framing::Empty => (Bytes::new(), head.keep_alive),
        Framing::Length(n) => (read_exact(io, buf, n).await?, head.keep_alive),
        Framing::Chunked => (read_chunked(io, buf, max_body).await?, head.keep_alive),
        Framing::UntilClose => (read_to_close(io, buf, max_body).await?, false),
    };
    Ok(Answer {
        status: head.status,
        content_type: head.content_type,
        content_disposition: head.content_disposition,
        body,
        reusable,
    })
}

/// Reads more into `buf`; the end of the stream here is an answer cut short.
async fn fill<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> Result<(), Fault> {
    if buf.capacity() - buf.len() < READ_ROOM {
        buf.reserve(READ_CHUNK);
    }
    match io.read_buf(buf).await {
        Ok(0) => Err(Fault::Closed),
        Ok(_) => Ok(()),
        Err(e) => Err(Fault::Io(e)),
    }
}

async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Head, Fault> {
    loop {
        if !buf.is_empty() {
            // Left uninitialised: filling 64 empty headers (2 KiB) before each parse was a
            // fifth of this function's time (perf, issue 17).
            let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut []);
            match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut r,
                buf,
                &mut headers,
            ) {
                Ok(httparse::Status::Complete(n)) => {
                    let head = interpret(&r, max_body)?;
                    buf.advance(n);
                    // Interim answers (100 Continue, 103 Early Hints) precede the real one.
                    if head.status.is_informational() {
                        if head.status == StatusCode::SWITCHING_PROTOCOLS {
                            return Err(Fault::Malformed("unexpected protocol switch"));
                        }
                        continue;
                    }
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
                    return Err(Fault::Malformed("head too large"))
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(Fault::Malformed("too many headers"))
                }
                Err(_) => return Err(Fault::Malformed("invalid status line or header")),
            }
        }
        fill(io, buf).await?;
    }
}

fn interpret(r: &httparse::Response<'_, '_>, max_body: usize) -> Result<Head, Fault> {
    let status = r
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(Fault::Malformed("invalid status code"))?;
    // HTTP/1.0 answers close unless they say otherwise; the carrier speaks 1.1.
    let mut keep_alive = r.version == Some(1);
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut content_type = None;
    let mut content_disposition = None;
    for h in r.headers.iter() {
        let Some(known) = Known::of(h.name.as_bytes()) else {
            continue;
        };
        match known {
            Known::ContentLength => {
                let n = parse_length(h.value).ok_or(Fault::Malformed("invalid content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(Fault::Malformed("two different content-lengths"));
                }
                length = Some(n);
            }
            Known::TransferEncoding => {
                // Sesame never asks for a coding, so chunked is the only one that may come.
                if !trim(h.value).eq_ignore_ascii_case(b"chunked") || chunked {
                    return Err(Fault::Malformed("transfer-encoding other than chunked"));
                }
                chunked = true;
            }
            Known::Connection => {
                for token in h.value.split(|b| *b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && r.version == Some(0) {
                        keep_alive = true;
                    }
                }
            }
            Known::ContentType => content_type = content_type_value(h.value),
            Known::ContentDisposition => {
                content_disposition = HeaderValue::from_bytes(h.value).ok()
            }
        }
    }
    let framing = if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else {
        match (chunked, length) {
            (true, Some(_)) => {
                return Err(Fault::Malformed(
                    "both content-length and transfer-encoding",
                ))
            }
            (true, None) => Framing::Chunked,
            (false, Some(n)) if n > max_body => return Err(Fault::TooLarge),
            (false, Some(n)) => Framing::Length(n),
            (false, None) => Framing::UntilClose,
        }
    };
    Ok(Head {
        status,
        content_type,
        content_disposition,
        framing,
        keep_alive,
    })
}

/// The carrier's usual content types, as static values built at compile time: relaying one
/// of them costs no allocation and no validation (`from_bytes`, or `from_static` called at run
/// time, checks every byte: ~340 instructions per answer).
static USUAL_CONTENT_TYPES: [HeaderValue; 6] = [
    HeaderValue::from_static("application/json;charset=UTF-8"),
    HeaderValue::from_static("application/json; charset=UTF-8"),
    HeaderValue::from_static("application/json"),
    HeaderValue::from_static("application/pdf"),
    HeaderValue::from_static("text/xml;charset=UTF-8"),
    HeaderValue::from_static("multipart/mixed"),
];

fn content_type_value(v: &[u8]) -> Option<HeaderValue> {
    match USUAL_CONTENT_TYPES.iter().find(|t| t.as_bytes() == v) {
        Some(t) => Some(t.clone()),
        None => HeaderValue::from_bytes(v).ok(),
    }
}

/// The answer headers Sesame reads.
#[derive(Clone, Copy, Debug)]
enum Known {
    Connection,
    ContentType,
    ContentLength,
    TransferEncoding,
    ContentDisposition,
}

impl Known {
    /// Which one `name` is, if any. Their names all differ in length: one comparison per
    /// header at most.
    fn of(name: &[u8]) -> Option<Known> {
        let (wanted, known): (&[u8], Known) = match name.len() {
            10 => (b"connection", Known::Connection),
            12 => (b"content-type", Known::ContentType),
            14 => (b"content-length", Known::ContentLength),
            17 => (b"transfer-encoding", Known::TransferEncoding),
            19 => (b"content-disposition", Known::ContentDisposition),
            _ => return None,
        };
        // `name` is a token (httparse refuses anything else in a name): among token bytes,
        // setting bit 5 turns exactly the upper-case letters into lower case and leaves `-`
        // alone, so this is `eq_ignore_ascii_case` without a lower-casing per byte, and the
        // compiler can do it a word at a time.
        let diff = name
            .iter()
            .zip(wanted)
            .fold(0u8, |acc, (a, w)| acc | ((a | 0x20) ^ w));
        (diff == 0).then_some(known)
    }
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// A content-length: decimal digits only (no sign, no list), at most 19 of them.
fn parse_length(v: &[u8]) -> Option<usize> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0usize, |n, d| {
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

async fn read_exact<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    n: usize,
) -> Result<Bytes, Fault> {
    if buf.len() < n {
        // One allocation for the rest of the body (`n` was checked against the limit).
        buf.reserve(n - buf.len());
        while buf.len() < n {
            match io.read_buf(buf).await {
                Ok(0) => return Err(Fault::Closed),
                Ok(_) => {}
                Err(e) => return Err(Fault::Io(e)),
            }
        }
    }
    Ok(buf.split_to(n).freeze())
}

async fn read_to_close<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Bytes, Fault> {
    loop {
        if buf.len() > max {
            return Err(Fault::TooLarge);
        }
        match fill(io, buf).await {
            Ok(()) => {}
            Err(Fault::Closed) => return Ok(buf.split().freeze()),
            Err(e) => return Err(e),
        }
    }
}

async fn read_chunked<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Bytes, Fault> {
    let mut body = BytesMut::new();
    loop {
        // The chunk-size line.
        let size = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    buf.advance(used);
                    break size;
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_CHUNK_LINE => {
                    return Err(Fault::Malformed("chunk-size line too long"))
                }
                Ok(httparse::Status::Partial) => fill(io, buf).await?,
                Err(_) => return Err(Fault::Malformed("invalid chunk size")),
            }
        };
        if size == 0 {
            skip_trailers(io, buf).await?;
            return Ok(body.freeze());
        }
        let size = usize::try_from(size).map_err(|_| Fault::TooLarge)?;
        if body.len().saturating_add(size) > max {
            return Err(Fault::TooLarge);
        }
        // The chunk's data, then its CRLF.
        while buf.len() < size + 2 {
            if buf.len() < size {
                buf.reserve(size + 2 - buf.len());
            }
            fill(io, buf).await?;
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(Fault::Malformed("chunk not followed by CRLF"));
        }
        let data = buf.split_to(size);
        buf.advance(2);
        if body.is_empty() {
            // The first (usually the only) chunk becomes the body without a copy.
            body = data;
        } else {
            body.extend_from_slice(&data);
        }
    }
}

/// The trailer section after the last chunk: header lines, then an empty line. Read and
/// dropped (Sesame relays no trailer).
async fn skip_trailers<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> Result<(), Fault> {
    let mut seen = 0usize;
    loop {
        match buf.windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                buf.advance(2);
                return Ok(());
            }
            Some(end) => {
                seen += end + 2;
                buf.advance(end + 2);
            }
            None => {
                if seen + buf.len() > MAX_TRAILERS {
                    return Err(Fault::Malformed("trailers too large"));
                }
                fill(io, buf).await?;
            }
        }
        if seen > MAX_TRAILERS {
            return Err(Fault::Malformed("trailers too large"));
        }
    }
}

#[cfg(test)]
mod tests;
