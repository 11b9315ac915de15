//! The one service-kind enum: what a request is for, and everything that follows from it.

use http::{HeaderMap, Method};

use super::request::wants_json;
use crate::envelope::{Envelope, Lang};

/// What a request is for: the one service-kind enum. Each kind names its error envelope, its
/// route label (metrics) and its upstream label (the carrier service it calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Labels,
    /// The SOAP label service (`POST`), and its WSDL (`GET`).
    LabelsSoap,
    LabelsWsdl,
    Tracking,
    TrackingV2,
    Pickup,
    Eligibility,
    /// The URL tracking link (HTML, or JSON on request).
    Link,
    ParcelSearch,
    /// One parcel's sheet as JSON (issue 14).
    ParcelSheet,
    Claim,
    /// The caller's pinned parcels (`GET`), one pinned (`PUT`), one unpinned (`DELETE`).
    Pins,
    Pin,
    Unpin,
    Invoices,
    InvoicePdf,
    InvoiceZip,
    /// The OpenAPI document of Sesame's own endpoints.
    OwnOpenApi,
    /// No route: Sesame's own envelope.
    NotFound,
}

impl Service {
    /// The envelope errors on this route use (the link's depends on `Accept`, v2's language on
    /// the query).
    pub fn envelope(self, headers: &HeaderMap, query: Option<&str>) -> Envelope {
        match self {
            Service::Labels => Envelope::LabelParts,
            Service::LabelsSoap | Service::LabelsWsdl => Envelope::Soap,
            Service::Eligibility => Envelope::Messages,
            Service::Tracking => Envelope::Status,
            Service::TrackingV2 => Envelope::ReturnCode {
                lang: Lang::of_query(query),
            },
            Service::Pickup => Envelope::ErrorCode,
            Service::Link => Envelope::Link {
                json: wants_json(headers),
            },
            _ => Envelope::Own,
        }
    }

    /// Route label for metrics (bounded cardinality).
    pub fn route_label(self) -> &'static str {
        match self {
            Service::Labels => "labels",
            Service::LabelsSoap | Service::LabelsWsdl => "labels_soap",
            Service::Tracking => "tracking",
            Service::TrackingV2 => "tracking_v2",
            Service::Pickup => "pickup",
            Service::Eligibility => "eligibility",
            Service::Link => "tracking_link",
            _ => "sesame_api",
        }
    }

    /// The carrier service called (label of `sesame_upstream_duration_seconds{service}`; the
    /// upstream client recognises refusals of the account's credentials by it).
    pub fn upstream_label(self) -> &'static str {
        match self {
            Service::Labels => "labels",
            Service::LabelsSoap | Service::LabelsWsdl => "labels_soap",
            Service::Tracking | Service::Link | Service::ParcelSheet | Service::Pin => "tracking",
            Service::TrackingV2 => "tracking_v2",
            Service::Pickup => "pickup",
            Service::Eligibility => "eligibility",
            Service::ParcelSearch | Service::Claim | Service::Pins => "tracking_tool",
            Service::Invoices | Service::InvoicePdf | Service::InvoiceZip => "invoices",
            Service::NotFound | Service::OwnOpenApi | Service::Unpin => "none",
        }
    }

    /// Label of `sesame_fanout_width{route}`.
    pub fn fanout_label(self) -> &'static str {
        match self {
            Service::ParcelSearch => "parcel_search",
            Service::Invoices => "invoices",
            Service::InvoiceZip => "invoice_zip",
            other => other.route_label(),
        }
    }

    /// The method the route answers (another one: 405 in the service's envelope).
    pub(crate) fn method(self) -> Method {
        match self {
            Service::TrackingV2
            | Service::LabelsWsdl
            | Service::Link
            | Service::ParcelSearch
            | Service::ParcelSheet
            | Service::Pins
            | Service::Invoices
            | Service::InvoicePdf
            | Service::OwnOpenApi => Method::GET,
            Service::Pin => Method::PUT,
            Service::Unpin => Method::DELETE,
            _ => Method::POST,
        }
    }
}
