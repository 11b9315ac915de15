//! CSV import and export of advanced users (seed 000 §5.2, §7).
//!
//! Files from French spreadsheets work: `;` or `,` separators (detected on the header line),
//! UTF-8 with or without BOM, or Windows-1252. Exports are `;`-separated UTF-8 with a BOM so Excel
//! opens them, and use the import's columns so they can be imported elsewhere.

use sesame_domain::csv::{undefuse, Writer, BOM};
use sesame_domain::rights::{Grant, ADVANCED_GRANTS};
use sesame_domain::{Email, FieldError, Profile, RightSet, Tag};
use sesame_store::AccountUser;

use crate::error::ApiError;

/// The identity columns of the seed's template, with the profile field each one fills.
pub const IDENTITY_COLUMNS: [(&str, &str); 8] = [
    ("NOM", "lastName"),
    ("PRENOM", "firstName"),
    ("FONCTION", "function"),
    ("EMAIL", "email"),
    ("TELEPHONE", "phone"),
    ("ADRESSE GEOGRAPHIQUE", "address"),
    ("CODE POSTAL", "postalCode"),
    ("VILLE", "city"),
];
/// Optional column (Sesame extension): the user's tag.
pub const TAG_COLUMN: &str = "TAG UTILISATEUR";
/// Informational columns of the export, ignored on import.
pub const INFO_COLUMNS: [&str; 2] = ["CLE UTILISATEUR", "STATUT"];

pub const STATUS_OK: &str = "Traitement OK";
/// A line whose e-mail an existing advanced user holds (issue 15: one e-mail, one identity).
pub const STATUS_EMAIL_TAKEN: &str = "Erreur sur les informations de l'utilisateur (EMAIL déjà utilisé : associer l'utilisateur avec sa clé utilisateur)";

/// Upper-case, accents removed, inner blanks collapsed: "Adresse géographique" ≡ "ADRESSE GEOGRAPHIQUE".
fn normalise_header(h: &str) -> String {
    let folded: String = h
        .trim()
        .trim_matches('"')
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'î' | 'ï' | 'Î' | 'Ï' => 'I',
            'ô' | 'ö' | 'Ô' | 'Ö' => 'O',
            'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'U',
            'ç' | 'Ç' => 'C',
            '_' => ' ',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Bytes of an uploaded file → text: UTF-8 (BOM stripped) or else Windows-1252.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    if header.matches(';').count() >= header.matches(',').count() {
        b';'
    } else {
        b','
    }
}

/// What each column of an uploaded file means.
#[derive(Clone, Debug)]
enum Column {
    Identity(&'static str, &'static str),
    Tag,
    Right(Grant, &'static str),
    Ignored,
}

/// A checked upload: the header is understood; lines are parsed by the worker.
pub struct Upload {
    pub text: String,
    pub lines: i64,
}

fn reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(detect_delimiter(text))
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes())
}

fn columns(headers: &csv::StringRecord) -> Result<Vec<Column>, ApiError> {
    let mut out = Vec::with_capacity(headers.len());
    for h in headers {
        let n = normalise_header(h);
        let col = if let Some((c, f)) = IDENTITY_COLUMNS.iter().find(|(c, _)| *c == n) {
            Column::Identity(c, f)
        } else if n == TAG_COLUMN {
            Column::Tag
        } else if let Some((g, c)) = ADVANCED_GRANTS.iter().find(|(_, c)| *c == n) {
            Column::Right(*g, c)
        } else if INFO_COLUMNS.contains(&n.as_str()) || n.is_empty() {
            Column::Ignored
        } else {
            return Err(ApiError::invalid(
                h.trim().to_owned(),
                format!("unknown column '{}': use the template's columns", h.trim()),
            ));
        };
        out.push(col);
    }
    for (c, _) in IDENTITY_COLUMNS {
        if !out
            .iter()
            .any(|x| matches!(x, Column::Identity(n, _) if *n == c))
        {
            return Err(ApiError::invalid(c, format!("missing column '{c}'")));
        }
    }
    Ok(out)
}

/// Checks an uploaded file's header and counts its lines.
pub fn check_upload(bytes: &[u8], max_lines: i64) -> Result<Upload, ApiError> {
    let text = decode(bytes);
    if text.trim().is_empty() {
        return Err(ApiError::invalid("file", "the file is empty"));
    }
    let mut r = reader(&text);
    let headers = r
        .headers()
        .map_err(|e| ApiError::invalid("file", format!("unreadable CSV header: {e}")))?
        .clone();
    columns(&headers)?;
    let mut lines = 0i64;
    for rec in r.records() {
        let rec = rec.map_err(|e| ApiError::invalid("file", format!("unreadable CSV: {e}")))?;
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        lines += 1;
        if lines > max_lines {
            return Err(ApiError::invalid(
                "file",
                format!("at most {max_lines} lines per file"),
            ));
        }
    }
    if lines == 0 {
        return Err(ApiError::invalid("file", "the file has no user line"));
    }
    Ok(Upload { text, lines })
}

/// One line of an import, ready to create, or the seed's status explaining why not.
pub struct Line {
    pub number: usize,
    pub last_name: String,
    pub first_name: String,
    pub email: String,
    pub parsed: Result<(Profile, Option<Tag>, RightSet), String>,
}

fn user_error(column: &str) -> String {
    format!("Erreur sur les informations de l'utilisateur ({column})")
}

/// Column header a profile field comes from (for error statuses).
pub fn column_of(field: &str) -> &'static str {
    IDENTITY_COLUMNS
        .iter()
        .find(|(_, f)| *f == field)
        .map(|(c, _)| *c)
        .unwrap_or(if field == "tag" { TAG_COLUMN } else { "?" })
}

fn parse_record(
    cols: &[Column],
    rec: &csv::StringRecord,
) -> Result<(Profile, Option<Tag>, RightSet), String> {
    let mut p = Profile {
        country: "France".into(),
        ..Profile::default()
    };
    let mut tag = None;
    let mut rights = RightSet::EMPTY;
    let mut email_raw = String::new();
    // Rights first: a bad choice is reported even if the identity is also wrong.
    for (col, value) in cols.iter().zip(rec.iter()) {
        if let Column::Right(g, header) = col {
            match value.trim().to_lowercase().as_str() {
                "oui" | "o" => rights = rights.grant(*g),
                "non" | "n" | "" => {}
                _ => return Err(format!("Choix invalide ({header})")),
            }
        }
    }
    for (col, value) in cols.iter().zip(rec.iter()) {
        let v = undefuse(value.trim()).to_owned();
        match col {
            Column::Identity(_, "lastName") => p.last_name = v,
            Column::Identity(_, "firstName") => p.first_name = v,
            Column::Identity(_, "function") => p.function = v,
            Column::Identity(_, "email") => email_raw = v,
            Column::Identity(_, "phone") => p.phone = v,
            Column::Identity(_, "address") => p.address = v,
            Column::Identity(_, "postalCode") => p.postal_code = v,
            Column::Identity(_, "city") => p.city = v,
            Column::Tag if !v.is_empty() => {
                tag = Some(Tag::parse(&v).map_err(|_| user_error(TAG_COLUMN))?)
            }
            _ => {}
        }
    }
    if email_raw.is_empty() {
        return Err(user_error("EMAIL"));
    }
    p.email = Some(Email::parse(&email_raw).map_err(|_| user_error("EMAIL"))?);
    p.check_complete()
        .map_err(|e: FieldError| user_error(column_of(e.field)))?;
    Ok((p, tag, rights))
}

/// Parses the lines of a checked upload.
pub fn lines(text: &str) -> Result<Vec<Line>, ApiError> {
    let mut r = reader(text);
    let headers = r
        .headers()
        .map_err(|e| ApiError::invalid("file", e.to_string()))?
        .clone();
    let cols = columns(&headers)?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let Ok(rec) = rec else { continue };
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |name: &str| {
            cols.iter()
                .position(|c| matches!(c, Column::Identity(n, _) if *n == name))
                .and_then(|i| rec.get(i))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        out.push(Line {
            number: i + 2,
            last_name: get("NOM"),
            first_name: get("PRENOM"),
            email: get("EMAIL"),
            parsed: parse_record(&cols, &rec),
        });
    }
    Ok(out)
}

/// The shared export writer (`sesame_domain::csv`): BOM, `;`, every cell defused.
fn writer() -> Writer {
    Writer::new()
}

fn finish(w: Writer) -> Vec<u8> {
    w.finish().unwrap_or_default()
}

fn template_headers() -> Vec<&'static str> {
    let mut h: Vec<&str> = IDENTITY_COLUMNS.iter().map(|(c, _)| *c).collect();
    h.push(TAG_COLUMN);
    h.extend(ADVANCED_GRANTS.iter().map(|(_, c)| *c));
    h
}

/// The import template: the seed's columns, then one column per right.
pub fn template() -> Vec<u8> {
    let mut w = writer();
    let _ = w.record(template_headers());
    finish(w)
}

/// The result file: one line per imported line with its status.
pub fn result_file(rows: &[(usize, String, String, String, String)]) -> Vec<u8> {
    let mut w = writer();
    let _ = w.record(["LIGNE", "NOM", "PRENOM", "EMAIL", "STATUT"]);
    for (n, last, first, email, status) in rows {
        let _ = w.record([&n.to_string(), last, first, email, status]);
    }
    finish(w)
}

fn exact(rights: RightSet, g: Grant) -> bool {
    match g {
        Grant::Plain(r) => rights.has(r),
        Grant::Scoped(r, s) => rights.scope(r).bits() & s.bits() != 0,
    }
}

/// The export: advanced users with their delegated rights, without logins or passwords.
pub fn export(users: &[AccountUser]) -> Vec<u8> {
    let mut w = writer();
    let mut headers = template_headers();
    headers.extend(INFO_COLUMNS);
    let _ = w.record(&headers);
    for au in users {
        let p = &au.user.profile;
        let mut row: Vec<String> = [
            p.last_name.as_str(),
            p.first_name.as_str(),
            p.function.as_str(),
            p.email.as_ref().map(|e| e.as_str()).unwrap_or(""),
            p.phone.as_str(),
            p.address.as_str(),
            p.postal_code.as_str(),
            p.city.as_str(),
            au.tag.as_ref().map(|t| t.as_str()).unwrap_or(""),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        row.extend(
            ADVANCED_GRANTS
                .iter()
                .map(|(g, _)| if exact(au.rights, *g) { "oui" } else { "non" }.to_owned()),
        );
        row.push(
            au.user
                .user_key
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
        );
        row.push(au.user.status.as_str().to_owned());
        let _ = w.record(&row);
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_semicolon_file_parses() {
        let text = "NOM;PRENOM;FONCTION;EMAIL;TELEPHONE;ADRESSE GÉOGRAPHIQUE;CODE POSTAL;VILLE;WEB SERVICE SUIVI\n\
                    Hérault;Zoé;Logisticienne;zoe@example.fr;0102;1 rue;75001;Paris;oui\n\
                    Bad;Line;F;zoe@example.fr;0102;1 rue;75001;Paris;peut-être\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        assert!(std::str::from_utf8(&bytes).is_err());
        let up = check_upload(&bytes, 10).unwrap();
        assert_eq!(up.lines, 2);
        let ls = lines(&up.text).unwrap();
        let (p, _, r) = ls[0].parsed.as_ref().unwrap();
        assert_eq!(p.last_name, "Hérault");
        assert_eq!(r.ids(), ["ws_tracking"]);
        assert_eq!(
            ls[1].parsed.as_ref().unwrap_err(),
            "Choix invalide (WEB SERVICE SUIVI)"
        );
    }

    #[test]
    fn comma_bom_and_errors() {
        let mut bytes = BOM.to_vec();
        bytes.extend_from_slice(
            b"NOM,PRENOM,FONCTION,EMAIL,TELEPHONE,ADRESSE GEOGRAPHIQUE,CODE POSTAL,VILLE\nA,B,C,not-an-email,1,2,3,4\nA,,C,a@b.fr,1,2,3,4\n",
        );
        let up = check_upload(&bytes, 10).unwrap();
        let ls = lines(&up.text).unwrap();
        assert_eq!(
            ls[0].parsed.as_ref().unwrap_err(),
            "Erreur sur les informations de l'utilisateur (EMAIL)"
        );
        assert_eq!(
            ls[1].parsed.as_ref().unwrap_err(),
            "Erreur sur les informations de l'utilisateur (PRENOM)"
        );
        let e = check_upload(b"NOM;PRENOM\nA;B\n", 10).err().unwrap();
        assert_eq!(e.field(), Some("FONCTION"));
        let e = check_upload(b"NOM;PRENOM;FONCTION;EMAIL;TELEPHONE;ADRESSE GEOGRAPHIQUE;CODE POSTAL;VILLE;TELEPORT\n", 10)
            .err()
            .unwrap();
        assert_eq!(e.field(), Some("TELEPORT"));
    }
}
