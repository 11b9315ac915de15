//! The public routes: the carrier's web services (drop-in compatible) and Sesame's own JSON
//! endpoints, one file per service (mini-redis's `cmd/`: one enum to dispatch, one file per
//! command). Every handler runs the same phases, as functions in `phases.rs`:
//!
//! parse (`request.rs`, `credentials.rs`) → authenticate → select account → authorize →
//! rewrite → forward (`fanout.rs` where answers span accounts) → filter; the error envelope is
//! chosen here ([`Service::envelope`]) and rendered once, in `envelope.rs`.

mod credentials;
mod eligibility;
mod fanout;
mod invoices;
mod kind;
mod labels;
mod labels_soap;
mod link;
mod members;
mod openapi;
mod paging;
mod parcels;
pub(crate) mod phases;
mod pickup;
mod pins;
pub(crate) mod request;
mod tracking;
mod tracking_v2;

use http::Method;

use crate::error::GatewayError;
use crate::response::Resp;
use crate::state::Inner;
use request::Req;

// What the fuzz targets and benchmarks reach (through `fuzzing.rs` and `bench.rs`).
#[cfg(any(feature = "fuzzing", feature = "bench"))]
pub(crate) use credentials::credentials;
#[cfg(feature = "fuzzing")]
pub(crate) use credentials::free_field;
pub(crate) use credentials::is_key_name;
// Declared routes (`routes/`) read the legacy login/password the same way.
pub(crate) use credentials::legacy_creds;
#[cfg(any(feature = "fuzzing", feature = "bench"))]
pub use credentials::Credentials;
#[cfg(feature = "bench")]
pub(crate) use fanout::account_ok;
#[cfg(feature = "fuzzing")]
pub(crate) use link::parcel_page;
#[cfg(feature = "fuzzing")]
pub(crate) use members::agrees_with_map;
#[cfg(feature = "bench")]
pub(crate) use paging::keep_items;
#[cfg(feature = "bench")]
pub(crate) use paging::PAGE_SIZE;
#[cfg(feature = "fuzzing")]
pub(crate) use paging::{page_param, period};
#[cfg(feature = "fuzzing")]
pub(crate) use parcels::parcels_csv;
#[cfg(feature = "bench")]
pub use parcels::ParcelFilter;
#[cfg(feature = "bench")]
pub(crate) use parcels::{keep_parcel, parcel_page_answer, sort_parcels};
#[cfg(feature = "bench")]
pub(crate) use phases::select;
#[cfg(any(feature = "fuzzing", feature = "bench"))]
pub(crate) use request::parse_object;
pub(crate) use request::percent_decode;
#[cfg(feature = "fuzzing")]
pub(crate) use request::query_param;
#[cfg(feature = "fuzzing")]
pub(crate) use tracking::timeline_code;

use crate::error::R;
pub use kind::Service;

/// The carrier paths called on every request of their service: parsed once (`Upstream::new`).
pub(crate) const HOT_UPSTREAM_PATHS: &[&str] = &[tracking::PATH, pickup::PATH, eligibility::PATH];

/// Phase 1 (parse): routing on path, a plain match (no allocation: path parameters are read
/// again by their handler, with the same functions).
pub(crate) fn route(method: &Method, path: &str) -> Service {
    if let Some(rest) = path.strip_prefix(labels::PREFIX) {
        return if labels::routes(rest) {
            Service::Labels
        } else {
            Service::NotFound
        };
    }
    if path == labels_soap::PATH {
        return if method == Method::GET {
            Service::LabelsWsdl
        } else {
            Service::LabelsSoap
        };
    }
    if path.starts_with(tracking_v2::PREFIX) {
        return match tracking_v2::id_segment(path) {
            Some(_) if method == Method::GET => Service::TrackingV2,
            _ => Service::NotFound,
        };
    }
    match path {
        tracking::PATH => Service::Tracking,
        pickup::PATH => Service::Pickup,
        eligibility::PATH => Service::Eligibility,
        link::PATH => Service::Link,
        parcels::SEARCH => Service::ParcelSearch,
        pins::LIST => Service::Pins,
        invoices::LIST => Service::Invoices,
        openapi::PATH => Service::OwnOpenApi,
        _ if parcels::claim_id(path).is_some() => Service::Claim,
        _ if parcels::sheet_id(path).is_some() => Service::ParcelSheet,
        _ if pins::pin_id(path).is_some() => {
            if method == Method::DELETE {
                Service::Unpin
            } else {
                Service::Pin
            }
        }
        _ if invoices::is_zip(path) => Service::InvoiceZip,
        _ if invoices::pdf_params(path).is_some() => Service::InvoicePdf,
        _ => Service::NotFound,
    }
}

/// The path parameters of a route (v2 parcel id, claim id, invoice account and number).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn route_params(svc: Service, path: &str) -> Vec<&str> {
    match svc {
        Service::TrackingV2 => tracking_v2::id_segment(path).into_iter().collect(),
        Service::Claim => parcels::claim_id(path).into_iter().collect(),
        Service::ParcelSheet => parcels::sheet_id(path).into_iter().collect(),
        Service::Pin | Service::Unpin => pins::pin_id(path).into_iter().collect(),
        Service::InvoicePdf => invoices::pdf_params(path)
            .map(|(a, n)| vec![a, n])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A service's handling of one request, boxed: the future hyper keeps for the request then
/// holds a pointer instead of the largest service's state (a few KiB), which it would copy each
/// time it moves the future (issue 17: copying futures was the profile's biggest item).
pub(crate) type Handling = std::pin::Pin<Box<dyn std::future::Future<Output = R<Resp>> + Send>>;

/// A handling that is already refused with `e`.
pub(crate) fn refused(e: GatewayError) -> Handling {
    Box::pin(std::future::ready(Err(e)))
}

/// The handling of `req` by `svc`, ready to await. One allocation per request.
pub(crate) fn dispatch(
    gw: std::sync::Arc<Inner>,
    svc: Service,
    req: http::Request<request::ReqBody>,
    ip: std::net::IpAddr,
) -> Handling {
    if svc == Service::NotFound {
        return refused(GatewayError::NotFound);
    }
    if req.method() != svc.method() {
        return refused(GatewayError::MethodNotAllowed);
    }
    let r = Req::new(req, ip);
    match svc {
        Service::Labels => Box::pin(async move { labels::handle(&gw, r).await }),
        Service::LabelsSoap => Box::pin(async move { labels_soap::handle(&gw, r).await }),
        Service::LabelsWsdl => Box::pin(async move { labels_soap::wsdl(&gw, r).await }),
        Service::Tracking => Box::pin(async move { tracking::handle(&gw, r).await }),
        Service::TrackingV2 => Box::pin(async move { tracking_v2::handle(&gw, r).await }),
        Service::Pickup => Box::pin(async move { pickup::handle(&gw, r).await }),
        Service::Eligibility => Box::pin(async move { eligibility::handle(&gw, r).await }),
        Service::Link => Box::pin(async move { link::handle(&gw, r).await }),
        Service::ParcelSearch => Box::pin(async move { parcels::search(&gw, r).await }),
        Service::Claim => Box::pin(async move { parcels::claim(&gw, r).await }),
        Service::ParcelSheet => Box::pin(async move { parcels::sheet(&gw, r).await }),
        Service::Pins => Box::pin(async move { pins::list(&gw, r).await }),
        Service::Pin => Box::pin(async move { pins::pin(&gw, r).await }),
        Service::Unpin => Box::pin(async move { pins::unpin(&gw, r).await }),
        Service::Invoices => Box::pin(async move { invoices::list(&gw, r).await }),
        Service::InvoicePdf => Box::pin(async move { invoices::pdf(&gw, r).await }),
        Service::InvoiceZip => Box::pin(async move { invoices::zip(&gw, r).await }),
        Service::OwnOpenApi => Box::pin(std::future::ready(Ok(openapi::handle()))),
        Service::NotFound => refused(GatewayError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::request::query_param;
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(
            route(&post, "/sls-ws/SlsServiceWSRest/2.0/generateLabel"),
            Service::Labels
        );
        assert_eq!(
            route(&post, "/sls-ws/SlsServiceWSRest/3.1/checkGenerateLabel"),
            Service::Labels
        );
        assert_eq!(
            route(&post, "/sls-ws/SlsServiceWSRest/9.9/generateLabel"),
            Service::NotFound
        );
        let v2 = "/suivi/v2/idships/6A123";
        assert_eq!(route(&get, v2), Service::TrackingV2);
        assert_eq!(route_params(Service::TrackingV2, v2), ["6A123"]);
        assert_eq!(route(&post, v2), Service::NotFound);
        assert_eq!(route(&get, "/suivi/v2/idships/a/b"), Service::NotFound);
        assert_eq!(route(&get, "/suivi/v2/idships/"), Service::NotFound);
        let claim = "/sesame/v1/parcels/6A1/claims";
        assert_eq!(route(&post, claim), Service::Claim);
        assert_eq!(route_params(Service::Claim, claim), ["6A1"]);
        let pdf = "/sesame/v1/invoices/123456/F-1/pdf";
        assert_eq!(route(&get, pdf), Service::InvoicePdf);
        assert_eq!(route_params(Service::InvoicePdf, pdf), ["123456", "F-1"]);
        assert_eq!(
            route(&get, "/sesame/v1/invoices//F-1/pdf"),
            Service::NotFound
        );
        assert_eq!(route(&post, "/sesame/v1/invoices/zip"), Service::InvoiceZip);
        let sheet = "/sesame/v1/parcels/6A1";
        assert_eq!(route(&get, sheet), Service::ParcelSheet);
        assert_eq!(route_params(Service::ParcelSheet, sheet), ["6A1"]);
        assert_eq!(route(&get, "/sesame/v1/parcels/"), Service::NotFound);
        assert_eq!(route(&get, "/sesame/v1/parcels/6A1/x"), Service::NotFound);
        assert_eq!(route(&get, "/sesame/v1/pins"), Service::Pins);
        let pin = "/sesame/v1/pins/6A1";
        assert_eq!(route(&Method::PUT, pin), Service::Pin);
        assert_eq!(route(&Method::DELETE, pin), Service::Unpin);
        assert_eq!(route(&get, pin), Service::Pin);
        assert_eq!(route_params(Service::Unpin, pin), ["6A1"]);
        assert_eq!(route(&Method::PUT, "/sesame/v1/pins/"), Service::NotFound);
        assert_eq!(
            route(&Method::PUT, "/sesame/v1/pins/a/b"),
            Service::NotFound
        );
        assert_eq!(route(&get, "/entreprise/colis/login/parcel"), Service::Link);
        assert_eq!(route(&get, "/"), Service::NotFound);
    }

    #[test]
    fn query_parameters() {
        let q = Some("apikey=ABC&cab=6A%2012&empty=&recipient=Jean+Dupont&bad=%zz");
        assert_eq!(query_param(q, "apikey").as_deref(), Some("ABC"));
        assert_eq!(query_param(q, "cab").as_deref(), Some("6A 12"));
        assert_eq!(query_param(q, "empty"), None);
        assert_eq!(query_param(q, "recipient").as_deref(), Some("Jean Dupont"));
        assert_eq!(query_param(q, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
        assert_eq!(percent_decode("%C3%A9%FF"), "é\u{FFFD}");
    }

    /// Found by the `query_decode` fuzz target (fuzz/corpus/query_decode/crash-percent-sign-digit):
    /// `u8::from_str_radix` accepts a leading `+`, so `%+2` decoded to the byte 0x02.
    #[test]
    fn percent_followed_by_a_sign_is_literal_not_a_control_byte() {
        assert_eq!(percent_decode("%+2"), "% 2");
        assert_eq!(percent_decode("%+a%-1"), "% a%-1");
        assert_eq!(
            query_param(Some("cab=6A%+0"), "cab").as_deref(),
            Some("6A% 0")
        );
    }
}
