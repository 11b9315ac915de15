//! The SOAP label service (`POST /sls-ws/SlsServiceWS/2.0`, the WSDL at `?wsdl`): SOAP 1.1,
//! `generateLabel` and `checkGenerateLabel`, answers in MTOM/XOP (`multipart/related`, the
//! envelope first, the label as an attachment it references by `cid:`), refusals as messages of
//! type ERROR inside the answer, malformed requests as SOAP faults (HTTP 500). The request is
//! read with quick-xml into the REST service's JSON shape, then validated and posted by the same
//! code as the REST service (`labels.rs`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use super::labels::{post, uuid_like, validate_value, Posted, Refused, SUCCESS_MESSAGE};
use crate::state::Simulator;

pub(crate) const PATH: &str = "/sls-ws/SlsServiceWS/2.0";
const MAX_DEPTH: usize = 24;
const MAX_ELEMENTS: usize = 2_000;
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SLS_NS: &str = "http://sls.ws.coliposte.fr";
/// The Content-ID of the envelope part, as the carrier's CXF stack names it.
const ROOT: &str = "root.message@cxf.apache.org";

/// The WSDL, its endpoint address a placeholder replaced by the address the client called.
const WSDL: &str = include_str!("sls-ws-2.0.wsdl");

/// A SOAP 1.1 fault, HTTP 500 (`status` for injected faults).
pub(crate) fn fault(status: StatusCode, code: &str, message: &str) -> Response {
    let xml = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>",
        escape(message)
    );
    let mut resp = (status, xml).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    resp
}

/// The operation of the request and its `generateLabelRequest` in the REST body's shape:
/// elements become keys, leaves strings, repeated elements (and `field`) arrays.
fn read(body: &[u8]) -> Result<(String, Value), String> {
    let mut reader = Reader::from_reader(body);
    // (local name, children, text) of each open element.
    let mut stack: Vec<(String, Map<String, Value>, String)> = Vec::new();
    let mut elements = 0usize;
    let mut op = None;
    let mut request = None;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("XML invalide : {e}"))?;
        let (start, end) = match &ev {
            Event::Eof => break,
            Event::DocType(_) => return Err("DOCTYPE refusé".into()),
            Event::Start(_) => (true, false),
            Event::Empty(_) => (true, true),
            Event::End(_) => (false, true),
            Event::Text(t) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                let s = quick_xml::escape::unescape(&s).map_err(|e| e.to_string())?;
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&s);
                }
                continue;
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&c.decode().map_err(|e| e.to_string())?);
                }
                continue;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("entité inconnue &{name};"))?
                            .to_owned()
                    }
                };
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&c);
                }
                continue;
            }
            _ => continue,
        };
        if start {
            let (Event::Start(s) | Event::Empty(s)) = &ev else {
                continue;
            };
            elements += 1;
            if elements > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                return Err("requête XML trop grande".into());
            }
            let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
            if stack.len() == 2 && op.is_none() {
                op = Some(name.clone());
            }
            stack.push((name, Map::new(), String::new()));
        }
        if end {
            let Some((name, children, text)) = stack.pop() else {
                return Err("XML invalide".into());
            };
            let value = if children.is_empty() {
                Value::String(text.trim().to_owned())
            } else {
                Value::Object(children)
            };
            if stack.len() == 3 && name == "generateLabelRequest" {
                request = Some(value);
            } else if let Some((_, parent, _)) = stack.last_mut() {
                match parent.get_mut(&name) {
                    Some(Value::Array(list)) => list.push(value),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                    None if name == "field" => {
                        parent.insert(name, Value::Array(vec![value]));
                    }
                    None => {
                        parent.insert(name, value);
                    }
                }
            }
        }
    }
    let op = op.ok_or("enveloppe SOAP sans opération")?;
    Ok((op, request.unwrap_or(Value::Object(Map::new()))))
}

pub(crate) async fn call(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (op, request) = match read(&body) {
        Ok(r) => r,
        Err(m) => return fault(StatusCode::INTERNAL_SERVER_ERROR, "soap:Client", &m),
    };
    let check = match op.as_str() {
        "generateLabel" => false,
        "checkGenerateLabel" => true,
        other => {
            return fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "soap:Client",
                &format!("opération inconnue : {other}"),
            )
        }
    };
    let response = format!("{op}Response");
    let req = match validate_value(&sim, &request) {
        Ok(r) => r,
        Err(Refused { id, message }) => {
            return mtom(&sim, &response, &messages(id, "ERROR", &message), None)
        }
    };
    let ok = messages("0", "INFOS", SUCCESS_MESSAGE);
    if check {
        return mtom(&sim, &response, &ok, None);
    }
    let Posted { parcel, label } = post(&sim, &req);
    let cid = format!("{}-1@cxf.apache.org", uuid_like(sim.seed(), sim.next_seq()));
    let content = format!(
        "{ok}<labelV2Response><label><xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:{cid}\"/></label><parcelNumber>{}</parcelNumber></labelV2Response>",
        escape(parcel.number.as_str())
    );
    mtom(&sim, &response, &content, Some((&cid, &label)))
}

fn messages(id: &str, kind: &str, content: &str) -> String {
    format!(
        "<messages><id>{}</id><messageContent>{}</messageContent><type>{kind}</type></messages>",
        escape(id),
        escape(content)
    )
}

/// The MTOM answer: the envelope (`<return>` holding `content`), then the attachment if any.
fn mtom(
    sim: &Simulator,
    response: &str,
    content: &str,
    attachment: Option<(&str, &[u8])>,
) -> Response {
    let envelope = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><ns2:{response} xmlns:ns2=\"{SLS_NS}\"><return>{content}</return></ns2:{response}></soap:Body></soap:Envelope>"
    );
    let boundary = format!("uuid:{}", uuid_like(sim.seed(), sim.next_seq()));
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{ROOT}>\r\n\r\n{envelope}"
    )
    .into_bytes();
    if let Some((cid, bytes)) = attachment {
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<{ROOT}>\"; start-info=\"text/xml\""
    );
    let mut resp = (StatusCode::OK, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// `GET …?wsdl`: the service description, its endpoint on the host the client called.
pub(crate) async fn wsdl(Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    if !q.contains_key("wsdl") {
        return fault(
            StatusCode::METHOD_NOT_ALLOWED,
            "soap:Client",
            "GET : seul ?wsdl est servi",
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let text = WSDL.replace("{{LOCATION}}", &format!("http://{host}{PATH}"));
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    resp
}
