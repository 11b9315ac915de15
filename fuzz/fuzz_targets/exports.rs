//! The gateway's multi-part answers: the invoice ZIP archive (one entry per PDF) and the parcel
//! search's CSV export, and the admin import's result file. Invariants: no panic; every answer
//! parses back to exactly what was put in (ZIP: names, contents and CRCs through the central
//! directory; CSV: one record per row, each cell its value, formula guards aside); the admin
//! result file never starts a name or e-mail cell with a formula character.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use sesame_gateway::fuzzing;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a stored-entries archive through its central directory, as unzip does.
fn unzip(z: &[u8]) -> Vec<(String, Vec<u8>)> {
    let eocd = z.len() - 22;
    assert_eq!(u32_at(z, eocd), 0x0605_4b50, "end of central directory");
    let count = u16_at(z, eocd + 10);
    let mut at = u32_at(z, eocd + 16) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(z, at), 0x0201_4b50, "central entry");
        let crc = u32_at(z, at + 16);
        let size = u32_at(z, at + 20) as usize;
        let name_len = u16_at(z, at + 28);
        let extra = u16_at(z, at + 30) + u16_at(z, at + 32);
        let local = u32_at(z, at + 42) as usize;
        let name = &z[at + 46..at + 46 + name_len];
        at += 46 + name_len + extra;
        assert_eq!(u32_at(z, local), 0x0403_4b50, "local header");
        assert_eq!(u16_at(z, local + 8), 0, "stored");
        assert_eq!(u16_at(z, local + 26), name_len);
        let data_at = local + 30 + name_len + u16_at(z, local + 28);
        assert_eq!(&z[local + 30..local + 30 + name_len], name);
        let data = &z[data_at..data_at + size];
        assert_eq!(crc32(data), crc, "CRC");
        out.push((
            String::from_utf8(name.to_vec()).expect("UTF-8 name"),
            data.to_vec(),
        ));
    }
    out
}

const FORMULA: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as read back, with the formula guard (a leading `'`) a CSV writer may add.
fn same_cell(read: &str, written: &str) -> bool {
    read == written || (written.starts_with(FORMULA) && read.strip_prefix('\'') == Some(written))
}

fn records(csv_bytes: &[u8]) -> Vec<Vec<String>> {
    let body = csv_bytes.strip_prefix(b"\xEF\xBB\xBF").expect("BOM");
    csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(false)
        .from_reader(body)
        .records()
        .map(|r| {
            r.expect("CSV parses back")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(rows) = Vec::<(String, String, String)>::arbitrary(&mut u) else {
        return;
    };
    // A zip holds at most 100 invoices; 16 rows cover every shape and keep executions fast.
    let rows: Vec<_> = rows.into_iter().take(16).collect();

    // ZIP: names and contents (names are `{account}_{number}.pdf`, far below the 64 KiB field).
    let entries: Vec<(String, Bytes)> = rows
        .iter()
        .map(|(a, b, _)| {
            (
                a.chars().take(200).collect(),
                Bytes::from(b.clone().into_bytes()),
            )
        })
        .collect();
    let back = unzip(&fuzzing::zip(&entries));
    assert_eq!(back.len(), entries.len());
    for ((n, d), (bn, bd)) in entries.iter().zip(&back) {
        assert_eq!(n, bn);
        assert_eq!(d.as_ref(), bd.as_slice());
    }

    // Parcel search CSV: text fields and numbers.
    let parcels: Vec<Value> = rows
        .iter()
        .map(|(a, b, c)| {
            json!({"accountNumber": a, "parcelNumber": b, "reference": c, "recipientName": a,
                   "postalCode": 75001, "statusLabel": c, "location": b, "country": a,
                   "depositDate": c})
        })
        .collect();
    let csv_out = fuzzing::parcels_csv(&parcels).expect("CSV export");
    let recs = records(&csv_out);
    assert_eq!(
        recs.len(),
        parcels.len() + 1,
        "one record per parcel + header"
    );
    for ((a, b, c), r) in rows.iter().zip(&recs[1..]) {
        // PASS (third column) is empty for a parcel without the field.
        let want = [a, b, &String::new(), c, a, &"75001".to_owned(), c, b, a, c];
        assert_eq!(r.len(), want.len());
        for (got, w) in r.iter().zip(want) {
            assert!(same_cell(got, w), "{got:?} for {w:?}");
        }
    }

    // Admin import result file.
    let result_rows: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, (a, b, c))| {
            (
                i + 2,
                a.clone(),
                b.clone(),
                c.clone(),
                "Traitement OK".to_owned(),
            )
        })
        .collect();
    let recs = records(&sesame_admin::csvio::result_file(&result_rows));
    assert_eq!(recs.len(), result_rows.len() + 1);
    for ((n, a, b, c, _), r) in result_rows.iter().zip(&recs[1..]) {
        assert_eq!(r[0], n.to_string());
        for (got, w) in r[1..4].iter().zip([a, b, c]) {
            assert!(!got.starts_with(FORMULA), "live formula cell {got:?}");
            assert!(same_cell(got, w), "{got:?} for {w:?}");
        }
    }
});
