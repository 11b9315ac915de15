//! An uploaded file as a client sends it: the raw body (`curl --data-binary`), or a
//! `multipart/form-data` form with the file part (a browser's `<input type="file">`). The body is
//! already buffered and bounded by the route's body limit; this only finds the file in it.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::HeaderMap;

use crate::error::{ApiError, ApiResult};

/// How many parts of a form are looked at before giving up: a browser sends the file and a
/// few fields; a form of thousands of empty parts is not a file upload.
const MAX_PARTS: usize = 16;

/// The uploaded file: its name when the form gave one, and its bytes.
#[derive(Debug)]
pub struct Upload {
    pub file_name: Option<String>,
    pub bytes: Bytes,
}

/// The file of a request: the part of a `multipart/form-data` body named `file` (or else the
/// first part carrying a file name), or the raw body for any other content type.
pub async fn file_of(headers: &HeaderMap, body: Bytes) -> ApiResult<Upload> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_form = content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_form {
        return Ok(Upload {
            file_name: None,
            bytes: body,
        });
    }
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError::invalid("file", "file: multipart/form-data without a boundary"))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let malformed = |e: multer::Error| {
        ApiError::invalid(
            "file",
            format!("file: malformed multipart/form-data body ({e})"),
        )
    };
    let mut fallback: Option<Upload> = None;
    for _ in 0..MAX_PARTS {
        let Some(field) = form.next_field().await.map_err(malformed)? else {
            break;
        };
        let named_file = field.name() == Some("file");
        let file_name = field.file_name().map(str::to_owned);
        if !named_file && file_name.is_none() {
            continue;
        }
        let bytes = field.bytes().await.map_err(malformed)?;
        let upload = Upload { file_name, bytes };
        if named_file {
            return Ok(upload);
        }
        fallback.get_or_insert(upload);
    }
    fallback.ok_or_else(|| {
        ApiError::invalid(
            "file",
            "file: the form has no file part (send the CSV as the part named \"file\")",
        )
    })
}
