//! One encoder per envelope: a classified [`Refusal`] becomes the answer the calling service's
//! clients parse (merchant software reads these envelopes, not HTTP statuses).

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use quick_xml::escape::escape;
use serde_json::{json, Value};

use crate::error::{Code, GatewayError, Refusal};
use crate::multipart::{self, Part};
use crate::response::{html_escape, html_resp, json_resp, Resp};

/// The seed's message for every failure of the URL tracking link (seed 000 §9).
pub const LINK_DENIED: &str = "Ce compte utilisateur ne vous permet pas d'accéder à ces informations. Veuillez vous connecter avec le compte approprié.";

/// Which envelope an answer uses (each service kind names its own, `services::Service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// Eligibility: `{"messages":[{"id","type":"ERROR","messageContent"}]}`.
    Messages,
    /// The label service: the same messages, inside the `jsonInfos` part of a `multipart/mixed`
    /// answer (its clients read every answer, errors included, from that part), status 400.
    LabelParts,
    /// Tracking (timelineCompany): `{"status":[{"code","message"}]}`, business errors in 200.
    Status,
    /// Tracking v2: `{"returnCode","returnMessage","lang"}` (and `idShip` for an unknown parcel),
    /// with the carrier's statuses: 401 for credentials or a right, 404 for a parcel.
    ReturnCode { lang: Lang },
    /// Pickup points: `{"errorCode","errorMessage","qualiteReponse"}`, business errors in 200.
    ErrorCode,
    /// The SOAP label service: its operation's answer (messages of type ERROR) or a SOAP fault.
    Soap,
    /// The URL tracking link: one HTML page for every refusal (JSON on request).
    Link { json: bool },
    /// Sesame's own JSON endpoints: the admin API's `{"error":{"code","message","field"?,"right"?}}`.
    Own,
}

impl GatewayError {
    /// The answer, in `envelope`.
    pub fn into_response(self, envelope: Envelope, portal_url: &str) -> Resp {
        respond(&self.classify(), envelope, portal_url)
    }
}

/// The answer to a refusal, in `envelope`; `Retry-After` on every envelope when it applies.
pub fn respond(r: &Refusal<'_>, envelope: Envelope, portal_url: &str) -> Resp {
    let mut resp = match envelope {
        Envelope::Messages => messages(r),
        Envelope::LabelParts => label_parts(r),
        Envelope::Status => status(r),
        Envelope::ReturnCode { lang } => return_code(r, lang),
        Envelope::ErrorCode => error_code(r),
        Envelope::Own => own(r),
        Envelope::Soap => soap(r, SoapOp::Generate),
        Envelope::Link { json } => link(r, json, portal_url),
    };
    if let Some(secs) = r.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The label and eligibility services' message id for a refusal.
pub(crate) fn message_id<'r>(r: &'r Refusal<'_>) -> &'r str {
    match r.code {
        Code::InvalidCredentials => "30000",
        Code::InvalidRequest | Code::AccountRequired => "30001",
        Code::Forbidden => "30002",
        _ => r.status.as_str(),
    }
}

/// The status of a refused label: 400, as the carrier answers every refusal; "come back
/// later" keeps its own (503, 504, 429 with `Retry-After`) so retrying clients still retry, and
/// so do the HTTP-level 404 and 405 (no label operation there).
pub(crate) fn label_status(r: &Refusal<'_>) -> StatusCode {
    if r.code.is_transient() || matches!(r.code, Code::NotFound | Code::MethodNotAllowed) {
        r.status
    } else {
        StatusCode::BAD_REQUEST
    }
}

fn messages(r: &Refusal<'_>) -> Resp {
    json_resp(
        r.status,
        &json!({"messages": [{"id": message_id(r), "type": "ERROR", "messageContent": r.message}]}),
    )
}

/// The label service's `jsonInfos` of a refusal. A struct, not `json!`, for the carrier's key
/// order (`messages` first; both responses present and null, the carrier's spelling included).
#[derive(serde::Serialize)]
struct LabelInfos<'a> {
    messages: [Message<'a>; 1],
    #[serde(rename = "labelXmlV2Reponse")]
    label_xml: Option<()>,
    #[serde(rename = "labelV2Response")]
    label: Option<()>,
}

#[derive(serde::Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "messageContent")]
    content: &'a str,
}

fn label_parts(r: &Refusal<'_>) -> Resp {
    let infos = LabelInfos {
        messages: [Message {
            id: message_id(r),
            kind: "ERROR",
            content: &r.message,
        }],
        label_xml: None,
        label: None,
    };
    // Serialising strings and nulls cannot fail; an empty object is still a part clients split.
    let json = serde_json::to_vec(&infos).unwrap_or_else(|_| b"{}".to_vec());
    let boundary = multipart::boundary();
    let body = multipart::render(
        &boundary,
        &[Part {
            content_type: "application/json;charset=UTF-8",
            content_id: "jsonInfos",
            body: &json,
        }],
    );
    let ct = format!(
        "multipart/mixed; boundary=\"{boundary}\"; type=\"application/json\"; start=\"<jsonInfos>\""
    );
    multipart::answer(label_status(r), &ct, body)
}

fn status(r: &Refusal<'_>) -> Resp {
    // The carrier answers business errors with HTTP 200 and a status code; keep that so
    // existing clients branch the same way.
    let (code, http) = match r.code {
        Code::UnknownParcel => ("105", StatusCode::OK),
        Code::InvalidCredentials => ("201", StatusCode::OK),
        Code::Forbidden => ("202", StatusCode::OK),
        Code::InvalidRequest | Code::AccountRequired => ("400", r.status),
        _ => (r.status.as_str(), r.status),
    };
    json_resp(
        http,
        &json!({"status": [{"code": code, "message": r.message}]}),
    )
}

/// The languages tracking v2 answers in (`?lang=`); anything else is answered in French, as
/// the carrier does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    FrFr,
    EnGb,
    DeDe,
    EsEs,
    ItIt,
    NlNl,
}

impl Lang {
    const ALL: [(Lang, &'static str); 6] = [
        (Lang::FrFr, "fr_FR"),
        (Lang::EnGb, "en_GB"),
        (Lang::DeDe, "de_DE"),
        (Lang::EsEs, "es_ES"),
        (Lang::ItIt, "it_IT"),
        (Lang::NlNl, "nl_NL"),
    ];

    /// The `lang` parameter of a query (no allocation: compared as written).
    pub fn of_query(query: Option<&str>) -> Lang {
        query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| pair.strip_prefix("lang="))
            .and_then(|v| Lang::ALL.iter().find(|(_, s)| *s == v))
            .map_or(Lang::FrFr, |(l, _)| *l)
    }

    pub fn as_str(self) -> &'static str {
        Lang::ALL
            .iter()
            .find(|(l, _)| *l == self)
            .map_or("fr_FR", |(_, s)| s)
    }
}

/// A v2 parcel the caller may not see, in the carrier's words: one answer for unknown and out
/// of scope (alone, or as one entry of a several-parcel answer).
pub(crate) fn v2_unknown(id: &str, lang: Lang) -> Value {
    json!({"returnCode": 404, "returnMessage": "Résultat non trouvé", "lang": lang.as_str(), "idShip": id})
}

fn return_code(r: &Refusal<'_>, lang: Lang) -> Resp {
    // The carrier's statuses: a right missing is "credentials not allowed" (401), as a bad key.
    let status = match r.code {
        Code::Forbidden | Code::InvalidCredentials => StatusCode::UNAUTHORIZED,
        _ => r.status,
    };
    let body = match (r.code, r.parcel) {
        (Code::UnknownParcel, Some(id)) => v2_unknown(id, lang),
        _ => {
            json!({"returnCode": status.as_u16(), "returnMessage": r.message, "lang": lang.as_str()})
        }
    };
    json_resp(status, &body)
}

fn error_code(r: &Refusal<'_>) -> Resp {
    let (code, http) = match r.code {
        Code::InvalidCredentials => (201, StatusCode::OK),
        Code::Forbidden => (202, StatusCode::OK),
        _ => (r.status.as_u16(), r.status),
    };
    json_resp(
        http,
        &json!({"errorCode": code, "errorMessage": r.message, "qualiteReponse": 0}),
    )
}

fn own(r: &Refusal<'_>) -> Resp {
    let mut error = json!({"code": r.code.as_str(), "message": r.message});
    if let Some(field) = r.field {
        error["field"] = json!(field);
    }
    if let Some(right) = r.right {
        error["right"] = json!(right);
    }
    json_resp(r.status, &json!({ "error": error }))
}

/// Where the tracking link's OK button leads (issue 14): the portal's sign-in, coming back to
/// the parcel asked (`cab`, from the link's query) once signed in. The key is never carried;
/// the parcel number is percent-encoded twice (once as a path segment, once as the `next`
/// value the sign-in decodes), so nothing in it can change the URL's shape. A number longer
/// than a parcel number can be (40) leads to the sign-in alone.
pub fn link_ok_target(portal_url: &str, query: Option<&str>) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let base = portal_url.trim_end_matches('/');
    let cab = crate::services::request::query_param(query, "cab")
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty() && c.len() <= 40);
    match cab {
        Some(c) => {
            let segment = utf8_percent_encode(&c, NON_ALPHANUMERIC).to_string();
            let next = utf8_percent_encode(&segment, NON_ALPHANUMERIC);
            format!("{base}/console/sign-in?next=/console/suivi/colis/{next}")
        }
        None => format!("{base}/console/sign-in"),
    }
}

/// The tracking link answers every refusal (bad key, unknown parcel, out of scope, missing
/// right) with the same page; only "come back later" situations differ, and they reveal nothing.
/// `ok_target`: where the OK button leads ([`link_ok_target`]).
fn link(r: &Refusal<'_>, json: bool, ok_target: &str) -> Resp {
    let (status, msg) = if r.code.is_transient() {
        (r.status, &*r.message)
    } else {
        (StatusCode::FORBIDDEN, LINK_DENIED)
    };
    if json {
        return json_resp(status, &json!({"error": "access_denied", "message": msg}));
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Erreur d'authentification</title>\
         <style>body{{font-family:sans-serif;background:#f4f4f4}}.box{{max-width:560px;margin:80px auto;background:#fff;\
         padding:24px;border-radius:6px;box-shadow:0 2px 8px #0002}}a.ok{{float:right;background:#ffb400;color:#000;\
         padding:8px 24px;text-decoration:none;border-radius:4px}}</style></head><body><div class=\"box\">\
         <h1>Erreur d'authentification</h1><p>{}</p><a class=\"ok\" href=\"{}\">OK</a><div style=\"clear:both\"></div>\
         </div></body></html>\n",
        html_escape(msg),
        html_escape(ok_target)
    );
    html_resp(status, html)
}

const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SLS_NS: &str = "http://sls.ws.coliposte.fr";

/// The operation called: its answer element is `{name}Response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapOp {
    Generate,
    Check,
}

impl SoapOp {
    pub(crate) fn of(local: &[u8]) -> Option<SoapOp> {
        match local {
            b"generateLabel" => Some(SoapOp::Generate),
            b"checkGenerateLabel" => Some(SoapOp::Check),
            _ => None,
        }
    }

    fn response(self) -> &'static str {
        match self {
            SoapOp::Generate => "generateLabelResponse",
            SoapOp::Check => "checkGenerateLabelResponse",
        }
    }
}

/// The refusals the carrier answers inside the operation's answer (HTTP 200, messages of type
/// ERROR); everything else is a SOAP fault.
pub(crate) fn soap_in_answer(r: &Refusal<'_>) -> bool {
    matches!(
        r.code,
        Code::InvalidCredentials | Code::Forbidden | Code::AccountRequired
    )
}

/// The MTOM answer of a refused operation: one XOP part holding the envelope.
fn soap_messages(r: &Refusal<'_>, op: SoapOp) -> Resp {
    let envelope = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><ns2:{resp} xmlns:ns2=\"{SLS_NS}\"><return><messages><id>{id}</id><messageContent>{msg}</messageContent><type>ERROR</type></messages></return></ns2:{resp}></soap:Body></soap:Envelope>",
        resp = op.response(),
        id = escape(message_id(r)),
        msg = escape(r.message.as_ref()),
    );
    let boundary = multipart::boundary();
    let start = "root.message@cxf.apache.org";
    let body = multipart::render(
        &boundary,
        &[Part {
            content_type: "application/xop+xml; charset=UTF-8; type=\"text/xml\"",
            content_id: start,
            body: envelope.as_bytes(),
        }],
    );
    let ct = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<{start}>\"; start-info=\"text/xml\""
    );
    multipart::answer(StatusCode::OK, &ct, body)
}

/// A refusal of the SOAP service: inside `op`'s answer ([`soap_in_answer`]), else a fault (an
/// error before the operation is known is answered as `generateLabel`'s). Faults are HTTP 500:
/// `soap:Client` for the caller's mistakes, `soap:Server` else.
pub(crate) fn soap(r: &Refusal<'_>, op: SoapOp) -> Resp {
    if soap_in_answer(r) {
        return soap_messages(r, op);
    }
    let who = if r.status.is_client_error() && !r.code.is_transient() {
        "soap:Client"
    } else {
        "soap:Server"
    };
    let xml = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault><faultcode>{who}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>",
        escape(r.message.as_ref())
    );
    let mut resp = http::Response::new(http_body_util::Full::new(Bytes::from(xml)));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    resp
}

/// What an account that failed for another reason says (the whole answer is not failing).
const UNAVAILABLE_SHORT: &str = "Service momentanément indisponible";

/// One account's failure inside a fanned-out answer (`accounts[].error`, eligibility's
/// `answers[].error`): its own short codes, the refusal's message.
pub fn account_entry(e: &GatewayError) -> Value {
    let r = e.classify();
    let code = match r.code {
        Code::UpstreamTimeout => "timeout",
        Code::RateLimited => "rate_limited",
        Code::UpstreamCredentialsRefused => "upstream_credentials_refused",
        _ => return json!({"code": "upstream_error", "message": UNAVAILABLE_SHORT}),
    };
    json!({"code": code, "message": r.message})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: Resp) -> (u16, Value) {
        use futures_util::FutureExt;
        use http_body_util::BodyExt;
        let status = r.status().as_u16();
        let bytes = r
            .into_body()
            .collect()
            .now_or_never()
            .and_then(Result::ok)
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[test]
    fn v2_language_is_read_off_the_query() {
        assert_eq!(Lang::of_query(None), Lang::FrFr);
        assert_eq!(Lang::of_query(Some("x=1&lang=de_DE")), Lang::DeDe);
        assert_eq!(Lang::of_query(Some("lang=xx_XX")), Lang::FrFr);
        assert_eq!(Lang::NlNl.as_str(), "nl_NL");
    }

    #[test]
    fn each_envelope_encodes_the_one_classification() {
        let e = || GatewayError::Forbidden("ws_postage");
        let (s, v) = body(e().into_response(Envelope::Messages, ""));
        assert_eq!((s, &v["messages"][0]["id"]), (403, &json!("30002")));
        let (s, v) = body(e().into_response(Envelope::Status, ""));
        assert_eq!((s, &v["status"][0]["code"]), (200, &json!("202")));
        let (s, v) = body(e().into_response(Envelope::ErrorCode, ""));
        assert_eq!((s, &v["errorCode"]), (200, &json!(202)));
        let (s, v) = body(e().into_response(Envelope::Own, ""));
        assert_eq!(s, 403);
        assert_eq!(v["error"]["code"], "forbidden");
        assert_eq!(v["error"]["right"], "ws_postage");
        let (s, v) = body(
            GatewayError::AccountRequired {
                field: "contractNumber",
            }
            .into_response(Envelope::Own, ""),
        );
        assert_eq!((s, &v["error"]["field"]), (400, &json!("contractNumber")));
        let v2 = Envelope::ReturnCode { lang: Lang::EnGb };
        let (s, v) = body(GatewayError::UnknownParcel { id: "6A1".into() }.into_response(v2, ""));
        assert_eq!(
            (s, &v["idShip"], &v["lang"]),
            (404, &json!("6A1"), &json!("en_GB"))
        );
        let (s, v) = body(e().into_response(v2, ""));
        assert_eq!((s, &v["returnCode"]), (401, &json!(401)));
        let (s, v) = body(e().into_response(Envelope::Link { json: true }, ""));
        assert_eq!((s, &v["message"]), (403, &json!(LINK_DENIED)));
        let r = GatewayError::RateLimited {
            retry_after_secs: 0,
        }
        .into_response(Envelope::Status, "");
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn link_ok_leads_to_the_portal_sign_in_then_the_parcel() {
        let t = |q: &str| link_ok_target("https://portal.example/", Some(q));
        assert_eq!(
            t("apikey=0E0AC69EA87355213770755A310BFB32&cab=6a14091083866"),
            "https://portal.example/console/sign-in?next=/console/suivi/colis/6A14091083866"
        );
        // Nothing in the number changes the URL's shape; the key never travels.
        let hostile = t("cab=A%26next%3D%2F%2Fevil%20x&apikey=SECRET");
        assert_eq!(
            hostile,
            "https://portal.example/console/sign-in?next=/console/suivi/colis/A%2526NEXT%253D%252F%252FEVIL%2520X"
        );
        assert!(!hostile.contains("SECRET"));
        assert_eq!(t("apikey=k"), "https://portal.example/console/sign-in");
        assert_eq!(
            t(&format!("cab={}", "9".repeat(41))),
            "https://portal.example/console/sign-in"
        );
        assert_eq!(
            link_ok_target("http://127.0.0.1:8081", None),
            "http://127.0.0.1:8081/console/sign-in"
        );
    }
}
