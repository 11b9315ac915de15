//! A minimal PDF 1.4 writer: Helvetica text and filled rectangles, nothing else.
//!
//! Labels and invoices only need to be real, openable PDFs (clients save or print them), so a
//! hand-written generator is enough and avoids a heavy dependency. The output is plain ASCII
//! (non-ASCII text is written as octal escapes in WinAnsiEncoding) except for the customary
//! binary comment on line 2, and the cross-reference table carries exact byte offsets.

use std::fmt::Write as _;

/// Points per millimetre (1 pt = 1/72 in).
pub(crate) const PT_PER_MM: f32 = 72.0 / 25.4;

/// One drawing operation on a page. Coordinates are in points from the bottom-left corner.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    /// A filled black rectangle (used for the fake barcode and separators).
    Rect { x: f32, y: f32, w: f32, h: f32 },
}

/// A page under construction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub(crate) ops: Vec<Op>,
}

impl Page {
    pub(crate) fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: impl Into<String>) {
        self.ops.push(Op::Text {
            x,
            y,
            size,
            bold,
            text: text.into(),
        });
    }

    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.ops.push(Op::Rect { x, y, w, h });
    }
}

/// Renders `pages` (at least one is emitted, blank if none given) of `width`×`height` points.
pub(crate) fn render(width: f32, height: f32, title: &str, pages: &[Page]) -> Vec<u8> {
    let blank = [Page::default()];
    let pages = if pages.is_empty() { &blank[..] } else { pages };

    // Object numbers: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, 5 info,
    // then (page, content) pairs.
    let first_page_obj = 6;
    let page_obj = |i: usize| first_page_obj + 2 * i;
    let mut objects: Vec<Vec<u8>> = Vec::with_capacity(5 + 2 * pages.len());

    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", page_obj(i)))
        .collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} /MediaBox [0 0 {} {}] >>",
            kids.join(" "),
            pages.len(),
            num(width),
            num(height)
        )
        .into_bytes(),
    );
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    let mut info = b"<< /Producer (Sesame upstream simulator) /Title (".to_vec();
    info.extend_from_slice(&pdf_string(title));
    info.extend_from_slice(b") >>");
    objects.push(info);

    for (i, page) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                page_obj(i) + 1
            )
            .into_bytes(),
        );
        let content = content_stream(page);
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(&content);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }

    // Header; the second line is a comment with high bytes so transfer tools treat the file as
    // binary (recommended by the PDF specification).
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = out.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        // Each entry is exactly 20 bytes: 10-digit offset, space, 5-digit generation, space,
        // 'n', then a two-byte end of line (" \n").
        let _ = writeln!(xref, "{off:010} 00000 n ");
    }
    let _ = write!(
        xref,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref_at}\n%%EOF",
        objects.len() + 1
    );
    out.extend_from_slice(xref.as_bytes());
    out
}

fn content_stream(page: &Page) -> Vec<u8> {
    let mut s = Vec::new();
    for op in &page.ops {
        match op {
            Op::Text {
                x,
                y,
                size,
                bold,
                text,
            } => {
                let font = if *bold { "F2" } else { "F1" };
                s.extend_from_slice(
                    format!("BT /{font} {} Tf {} {} Td (", num(*size), num(*x), num(*y)).as_bytes(),
                );
                s.extend_from_slice(&pdf_string(text));
                s.extend_from_slice(b") Tj ET\n");
            }
            Op::Rect { x, y, w, h } => {
                s.extend_from_slice(
                    format!("{} {} {} {} re f\n", num(*x), num(*y), num(*w), num(*h)).as_bytes(),
                );
            }
        }
    }
    s
}

/// A compact decimal number: PDF accepts `12.5` but not exponents.
fn num(v: f32) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Encodes text as the inside of a PDF literal string in WinAnsiEncoding: delimiters are
/// escaped, non-ASCII is written as octal escapes (keeps the file ASCII), unmappable → '?'.
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            ' '..='~' => out.push(c as u8),
            _ => {
                let b = win_ansi(c).unwrap_or(b'?');
                if b.is_ascii() {
                    out.push(b);
                } else {
                    out.extend_from_slice(format!("\\{b:03o}").as_bytes());
                }
            }
        }
    }
    out
}

/// Maps a character to its WinAnsiEncoding byte (Latin-1 plus the 0x80–0x9F extras French text
/// uses).
fn win_ansi(c: char) -> Option<u8> {
    let b = match c {
        '\t' | '\n' | '\r' => b' ',
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        'Œ' => 0x8C,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        'œ' => 0x9C,
        'Ÿ' => 0x9F,
        '\u{202F}' => 0xA0,
        c if ('\u{A0}'..='\u{FF}').contains(&c) => c as u32 as u8,
        _ => return None,
    };
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut p1 = Page::default();
        p1.text(
            20.0,
            400.0,
            12.0,
            true,
            "Colis (6A12345678901) – Hélène Œuvre €",
        );
        p1.rect(20.0, 20.0, 2.0, 40.0);
        let mut p2 = Page::default();
        p2.text(20.0, 400.0, 10.0, false, "page 2 \\ done");
        render(283.46, 425.2, "test", &[p1, p2])
    }

    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }

    #[test]
    fn xref_offsets_point_at_their_objects() {
        let pdf = sample();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF"));
        let text = String::from_utf8_lossy(&pdf).into_owned();

        // startxref → the "xref" keyword.
        let sx = text.rfind("startxref\n").expect("startxref");
        let xref_at: usize = text[sx + 10..]
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("offset");
        assert_eq!(&pdf[xref_at..xref_at + 5], b"xref\n");

        // Subsection header "0 N", then N entries of exactly 20 bytes.
        let header_end = find(&pdf, b"\n", xref_at + 5).expect("eol");
        let header = std::str::from_utf8(&pdf[xref_at + 5..header_end]).expect("ascii");
        let count: usize = header
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("count");
        assert_eq!(count, 5 + 2 * 2 + 1);
        let entries = &pdf[header_end + 1..];
        assert_eq!(&entries[..20], b"0000000000 65535 f \n");
        for obj in 1..count {
            let e = &entries[obj * 20..obj * 20 + 20];
            assert_eq!(&e[17..], b"n \n", "entry {obj} is 20 bytes");
            let off: usize = std::str::from_utf8(&e[..10])
                .expect("ascii")
                .parse()
                .expect("num");
            let expect = format!("{obj} 0 obj\n");
            assert_eq!(
                &pdf[off..off + expect.len()],
                expect.as_bytes(),
                "object {obj} at {off}"
            );
        }
        assert!(text.contains(&format!("/Size {count}")));
    }

    #[test]
    fn stream_lengths_are_exact() {
        let pdf = sample();
        let mut from = 0;
        let mut seen = 0;
        while let Some(at) = find(&pdf, b"<< /Length ", from) {
            let end = find(&pdf, b" >>\nstream\n", at).expect("stream");
            let len: usize = std::str::from_utf8(&pdf[at + 11..end])
                .expect("ascii")
                .parse()
                .expect("len");
            let data_start = end + 11;
            assert_eq!(
                &pdf[data_start + len..data_start + len + 10],
                b"\nendstream"
            );
            from = data_start + len;
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn text_is_escaped_and_encoded() {
        assert_eq!(pdf_string("a(b)c\\"), b"a\\(b\\)c\\\\".to_vec());
        assert_eq!(pdf_string("é€"), b"\\351\\200".to_vec());
        assert_eq!(pdf_string("漢"), b"?".to_vec());
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(-0.001), "0");
    }
}
