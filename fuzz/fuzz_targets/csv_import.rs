//! The admin CSV import (`admin-api/src/csvio.rs`) on arbitrary uploads: encodings (UTF-8 with or
//! without BOM, else Windows-1252), `;`/`,` separators detected on the header, quoting, ragged
//! lines. Invariants: no panic; valid UTF-8 is read as is (BOM dropped); an upload the check
//! accepts is parsed by the worker into exactly the number of lines the check counted, each
//! numbered after the header, and every accepted line is a complete profile with an e-mail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_admin::csvio;

fuzz_target!(|data: &[u8]| {
    let text = csvio::decode(data);
    let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if let Ok(s) = std::str::from_utf8(body) {
        assert_eq!(text, s);
    }
    let Ok(upload) = csvio::check_upload(data, 10_000) else {
        return;
    };
    assert_eq!(upload.text, text);
    let lines = csvio::lines(&upload.text).expect("a checked upload parses");
    assert_eq!(lines.len() as i64, upload.lines, "lines counted vs parsed");
    let mut last = 1;
    for l in &lines {
        assert!(l.number > last, "line numbers increase after the header");
        last = l.number;
        if let Ok((profile, _tag, _rights)) = &l.parsed {
            assert!(profile.email.is_some());
            assert!(profile.check_complete().is_ok());
        }
    }
});
