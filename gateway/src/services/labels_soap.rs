//! The SOAP label service (`POST /sls-ws/SlsServiceWS/2.0`, the WSDL at `?wsdl`), as the
//! open-source ERP carrier modules call it: a SOAP 1.1 envelope, `generateLabel` or
//! `checkGenerateLabel` with `generateLabelRequest/{contractNumber,password,…,fields}`, no
//! SOAPAction. The same delegation as the REST service (`labels.rs`): key in the `apiKey`
//! header or in `password`, account in `contractNumber` or the free field ACCOUNT_NUMBER,
//! right `ws_postage`, the account's credentials injected, USER_KEY and TAG_USER stamped. The
//! XML is read and rewritten with quick-xml's pull parser (never sliced as text), bounded in
//! size (`max_body_bytes`), depth and element count. The carrier's MTOM answer is relayed as is.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use sesame_domain::Right;

use super::credentials::{is_key_name, Credentials};
use super::kind::Service;
use super::phases::{authenticate, authenticate_creds, pass, select, timeout, upstream_ok};
use super::request::{header_bytes, read_body, Req};
use crate::auth::{Link, Principal};
use crate::envelope::{soap, soap_in_answer, SoapOp as Op};
use crate::error::{GatewayError, R};
use crate::response::{Outcome, Resp};
use crate::state::Inner;

pub(crate) const PATH: &str = "/sls-ws/SlsServiceWS/2.0";
/// Deepest element nesting accepted (a label request is 6 deep inside the envelope).
const MAX_DEPTH: usize = 24;
/// Most elements accepted in one request (a full label request has about 80).
const MAX_ELEMENTS: usize = 2_000;

/// What the gateway reads of a SOAP label request.
#[derive(Debug, Default)]
struct Fields {
    op: Option<Op>,
    contract: Option<String>,
    password: Option<String>,
    /// The free field ACCOUNT_NUMBER.
    account: Option<String>,
}

fn bad(what: impl Into<String>) -> GatewayError {
    GatewayError::BadRequest(what.into())
}

/// Walks the XML within the bounds, handing each event with the path of local names above it
/// (the element itself included for start, empty and end events) to `each`. DTDs are refused
/// (no entity of the caller's is ever expanded).
fn walk<'b>(body: &'b [u8], mut each: impl FnMut(&[Vec<u8>], Event<'b>) -> R<()>) -> R<()> {
    let mut reader = Reader::from_reader(body);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut elements = 0usize;
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| bad(format!("XML invalide à l'octet {pos} : {e}")))?;
        match &ev {
            Event::Eof => {
                if !path.is_empty() {
                    return Err(bad("XML invalide : document incomplet"));
                }
                return Ok(());
            }
            Event::DocType(_) => return Err(bad("XML invalide : DOCTYPE refusé")),
            Event::Start(s) | Event::Empty(s) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(bad(format!("plus de {MAX_ELEMENTS} éléments XML")));
                }
                if path.len() >= MAX_DEPTH {
                    return Err(bad(format!("XML imbriqué sur plus de {MAX_DEPTH} niveaux")));
                }
                path.push(s.local_name().as_ref().to_vec());
                let empty = matches!(ev, Event::Empty(_));
                each(&path, ev)?;
                if empty {
                    path.pop();
                }
                continue;
            }
            Event::End(_) => {
                each(&path, ev)?;
                path.pop();
                continue;
            }
            _ => {}
        }
        each(&path, ev)?;
    }
}

/// The text of a `Text` or entity-reference event, unescaped.
fn text_of(ev: &Event<'_>) -> R<Option<String>> {
    let invalid = |_| bad("XML invalide : texte illisible");
    match ev {
        Event::Text(t) => Ok(Some(
            quick_xml::escape::unescape(&t.decode().map_err(|_| bad("texte non UTF-8"))?)
                .map_err(|_| bad("XML invalide : entité inconnue"))?
                .into_owned(),
        )),
        Event::CData(c) => Ok(Some(c.decode().map_err(invalid)?.into_owned())),
        Event::GeneralRef(r) => {
            if let Some(c) = r
                .resolve_char_ref()
                .map_err(|_| bad("XML invalide : référence de caractère"))?
            {
                return Ok(Some(c.to_string()));
            }
            let name = r.decode().map_err(invalid)?;
            resolve_predefined_entity(&name)
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| bad(format!("XML invalide : entité inconnue &{name};")))
        }
        _ => Ok(None),
    }
}

/// Where an element sits: under `Envelope/Body/{op}/generateLabelRequest`, the rest of the path.
fn in_request(path: &[Vec<u8>]) -> Option<&[Vec<u8>]> {
    match path {
        [env, body, op, req, rest @ ..]
            if env == b"Envelope"
                && body == b"Body"
                && Op::of(op).is_some()
                && req == b"generateLabelRequest" =>
        {
            Some(rest)
        }
        _ => None,
    }
}

/// Reads the operation, the credentials and the ACCOUNT_NUMBER free field.
fn read_fields(body: &[u8]) -> R<Fields> {
    let mut f = Fields::default();
    let mut field_key = String::new();
    let mut field_value = String::new();
    let mut text = String::new();
    walk(body, |path, ev| {
        if let [env, b, op] = path {
            if env == b"Envelope" && b == b"Body" && matches!(ev, Event::Start(_) | Event::Empty(_))
            {
                f.op = f.op.or(Op::of(op));
            }
        }
        let Some(rest) = in_request(path) else {
            return Ok(());
        };
        if let Some(t) = text_of(&ev)? {
            text.push_str(&t);
            return Ok(());
        }
        match ev {
            Event::Start(_) => text.clear(),
            Event::End(_) => {
                let value = std::mem::take(&mut text).trim().to_owned();
                match rest {
                    [n] if n == b"contractNumber" && !value.is_empty() => f.contract = Some(value),
                    // Passwords are compared exactly (not trimmed).
                    [n] if n == b"password" => f.password = Some(value),
                    [a, b, k] if a == b"fields" && b == b"field" && k == b"key" => {
                        field_key = value
                    }
                    [a, b, v] if a == b"fields" && b == b"field" && v == b"value" => {
                        field_value = value
                    }
                    [a, b] if a == b"fields" && b == b"field" => {
                        if field_key == "ACCOUNT_NUMBER" && !field_value.is_empty() {
                            f.account = Some(std::mem::take(&mut field_value));
                        }
                        field_key.clear();
                        field_value.clear();
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(f)
}

/// The request forwarded: the caller's `contractNumber` and `password` replaced by the
/// account's (written first in `generateLabelRequest`, the schema's order), every element
/// named like a key dropped, the free fields ACCOUNT_NUMBER, USER_KEY and TAG_USER dropped and
/// the caller's own USER_KEY and TAG_USER appended.
fn rewrite(body: &[u8], link: &Link, p: &Principal) -> R<Vec<u8>> {
    let io = |e: std::io::Error| GatewayError::Internal(e.to_string());
    let mut w = Writer::new(Vec::with_capacity(body.len() + 256));
    // Depth of the element being skipped (credentials, a key, a replaced stamp), if any.
    let mut skip: Option<usize> = None;
    // A `field` is buffered until its key is known.
    let mut field: Option<(Vec<Event<'static>>, String, bool)> = None;
    let mut saw_fields = false;
    let stamps = stamps(p, link);
    walk(body, |path, ev| {
        let depth = path.len();
        if let Some(d) = skip {
            if depth == d && matches!(ev, Event::End(_)) {
                skip = None;
            }
            return Ok(());
        }
        let rest = in_request(path);
        let starts = matches!(ev, Event::Start(_) | Event::Empty(_));
        if let (Some(rest), true) = (rest, starts) {
            let name = rest.last().map(Vec::as_slice).unwrap_or_default();
            let dropped = (rest.len() == 1 && matches!(name, b"contractNumber" | b"password"))
                || std::str::from_utf8(name).is_ok_and(is_key_name);
            if dropped {
                if matches!(ev, Event::Start(_)) {
                    skip = Some(depth);
                }
                return Ok(());
            }
        }
        // Inside a buffered `field`: keep its events, note its key.
        if let Some((events, key, in_key)) = &mut field {
            match (&ev, rest) {
                (Event::End(_), Some([_, _])) => {
                    events.push(ev.into_owned());
                    let (events, key, _) = field.take().unwrap_or_default();
                    if !matches!(key.trim(), "ACCOUNT_NUMBER" | "USER_KEY" | "TAG_USER") {
                        for e in events {
                            w.write_event(e).map_err(io)?;
                        }
                    }
                    return Ok(());
                }
                (Event::Start(_), Some([_, _, k])) if k == b"key" => *in_key = true,
                (Event::End(_), Some([_, _, k])) if k == b"key" => *in_key = false,
                _ => {
                    if *in_key {
                        if let Some(t) = text_of(&ev)? {
                            key.push_str(&t);
                        }
                    }
                }
            }
            events.push(ev.into_owned());
            return Ok(());
        }
        match (&ev, rest) {
            (Event::Start(_), Some([f, fl])) if f == b"fields" && fl == b"field" => {
                field = Some((vec![ev.into_owned()], String::new(), false));
                return Ok(());
            }
            // The request opens: the account's credentials first.
            (Event::Start(_), Some([])) => {
                w.write_event(ev).map_err(io)?;
                element(&mut w, "contractNumber", &link.account.upstream_login).map_err(io)?;
                element(&mut w, "password", &link.account.upstream_password).map_err(io)?;
                return Ok(());
            }
            (Event::Empty(_), Some([])) => return Err(bad("generateLabelRequest est vide")),
            (Event::Empty(s), Some([f])) if f == b"fields" => {
                saw_fields = true;
                let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
                w.write_event(Event::Start(BytesStart::new(name.as_str())))
                    .map_err(io)?;
                write_stamps(&mut w, &stamps).map_err(io)?;
                w.write_event(Event::End(BytesEnd::new(name))).map_err(io)?;
                return Ok(());
            }
            (Event::End(_), Some([f])) if f == b"fields" => {
                saw_fields = true;
                write_stamps(&mut w, &stamps).map_err(io)?;
            }
            (Event::End(_), Some([])) if !saw_fields && !stamps.is_empty() => {
                w.write_event(Event::Start(BytesStart::new("fields")))
                    .map_err(io)?;
                write_stamps(&mut w, &stamps).map_err(io)?;
                w.write_event(Event::End(BytesEnd::new("fields")))
                    .map_err(io)?;
            }
            _ => {}
        }
        w.write_event(ev).map_err(io)
    })?;
    Ok(w.into_inner())
}

/// The stamps of the caller: (key, value) of USER_KEY and TAG_USER (the tag the label's account
/// gives the user: tags are per link).
fn stamps(p: &Principal, link: &Link) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(k) = &p.user_key {
        out.push(("USER_KEY", k.as_str().to_owned()));
    }
    if let Some(t) = &link.tag {
        out.push(("TAG_USER", t.as_str().to_owned()));
    }
    out
}

fn write_stamps(w: &mut Writer<Vec<u8>>, stamps: &[(&str, String)]) -> std::io::Result<()> {
    for (k, v) in stamps {
        w.write_event(Event::Start(BytesStart::new("field")))?;
        element(w, "key", k)?;
        element(w, "value", v)?;
        w.write_event(Event::End(BytesEnd::new("field")))?;
    }
    Ok(())
}

/// `<name>text</name>`, the text escaped.
fn element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let Req {
        headers, body, ip, ..
    } = r;
    // A key in the header is checked before the body is read: a bad key costs no body.
    let early = match header_bytes(&headers, "apikey") {
        Some(k) => Some(authenticate(gw, Some(k), None, ip).await?),
        None => None,
    };
    let body = read_body(body, &headers, gw.cfg.max_body_bytes).await?;
    let f = read_fields(&body)?;
    let op = f
        .op
        .ok_or_else(|| bad("enveloppe SOAP sans opération generateLabel ou checkGenerateLabel"))?;
    // From here on, refusals are answered as the operation's own answer (messages of type
    // ERROR), as the carrier does.
    match relay(gw, early, f, &body, ip).await {
        Ok(resp) => Ok(resp),
        Err(e) => {
            let r = e.classify();
            if soap_in_answer(&r) {
                let mut resp = soap(&r, op);
                resp.extensions_mut().insert(Outcome(r.outcome));
                Ok(resp)
            } else {
                Err(e)
            }
        }
    }
}

async fn relay(
    gw: &Inner,
    early: Option<std::sync::Arc<Principal>>,
    f: Fields,
    body: &[u8],
    ip: std::net::IpAddr,
) -> R<Resp> {
    let mut c = Credentials {
        key: None,
        legacy: f.contract.clone().zip(f.password),
        account: None,
        parcel: None,
    };
    let p = match early {
        Some(p) => {
            c.account = f.contract.or(f.account);
            p
        }
        None => {
            let p = authenticate_creds(gw, &mut c, ip).await?;
            // A key caller (key in `password`) may still name the account in ACCOUNT_NUMBER.
            if c.legacy.is_none() {
                c.account = c.account.or(f.account);
            }
            p
        }
    };
    let link = select(
        gw,
        &p,
        c.account.as_deref(),
        Right::WsPostage,
        "contractNumber",
    )?;
    let out = rewrite(body, link, &p)?;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    let up = gw
        .upstream
        .call(
            Service::LabelsSoap.upstream_label(),
            Method::POST,
            PATH,
            h,
            Bytes::from(out),
            timeout(gw, false),
        )
        .await?;
    // A SOAP fault is a 500 with an XML body: the carrier's answer, relayed.
    let fault = up.status == StatusCode::INTERNAL_SERVER_ERROR
        && up
            .content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("xml"));
    if fault {
        return Ok(pass(up));
    }
    Ok(pass(upstream_ok(up)?))
}

/// The WSDL: the carrier's, its endpoint address pointed at this gateway (the host the client
/// called), so a client that builds itself from it keeps calling Sesame.
pub(crate) async fn wsdl(gw: &Inner, r: Req) -> R<Resp> {
    let host = r
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .ok_or_else(|| bad("en-tête Host absent ou invalide"))?;
    let scheme = if gw.tls.is_some() { "https" } else { "http" };
    let location = format!("{scheme}://{host}{PATH}");
    let up = gw
        .upstream
        .call(
            Service::LabelsWsdl.upstream_label(),
            Method::GET,
            &format!("{PATH}?wsdl"),
            HeaderMap::new(),
            Bytes::new(),
            timeout(gw, false),
        )
        .await?;
    let up = upstream_ok(up)?;
    if up.status != StatusCode::OK {
        return Ok(pass(up));
    }
    let body = point_at(&up.body, &location)?;
    let mut resp = http::Response::new(http_body_util::Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    Ok(resp)
}

/// Rewrites every `address/@location` of the WSDL's service ports to `location`.
fn point_at(wsdl: &[u8], location: &str) -> R<Vec<u8>> {
    let io = |e: std::io::Error| GatewayError::Internal(e.to_string());
    let mut w = Writer::new(Vec::with_capacity(wsdl.len() + 64));
    let mut reader = Reader::from_reader(wsdl);
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| GatewayError::UpstreamUnavailable(format!("WSDL illisible : {e}")))?;
        match ev {
            Event::Eof => break,
            Event::Empty(s) if s.local_name().as_ref() == b"address" => {
                w.write_event(Event::Empty(located(&s, location)))
                    .map_err(io)?;
            }
            Event::Start(s) if s.local_name().as_ref() == b"address" => {
                w.write_event(Event::Start(located(&s, location)))
                    .map_err(io)?;
            }
            other => w.write_event(other).map_err(io)?,
        }
    }
    Ok(w.into_inner())
}

/// `s` with its `location` attribute set to `location`.
fn located(s: &BytesStart<'_>, location: &str) -> BytesStart<'static> {
    let mut out = BytesStart::new(String::from_utf8_lossy(s.name().as_ref()).into_owned());
    for a in s.attributes().flatten() {
        if a.key.local_name().as_ref() == b"location" {
            out.push_attribute(("location", location));
        } else {
            out.push_attribute(a);
        }
    }
    out
}
