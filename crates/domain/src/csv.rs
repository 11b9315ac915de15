//! The one CSV writer of every export (the admin API's user files, the gateway's parcel
//! search): `;`-separated UTF-8 with a BOM so French spreadsheets open it, and every cell
//! defused against formula injection. Pure: it builds bytes in memory, no I/O.

/// UTF-8 byte-order mark: Excel then reads the file as UTF-8 rather than Windows-1252.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Characters that make a spreadsheet run a cell as a formula (or, tab and CR, shift it into
/// one) when they open it.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell a spreadsheet shows as text: values starting like a formula get a leading `'`, which
/// spreadsheets hide and [`undefuse`] removes on import.
pub fn defuse(v: &str) -> std::borrow::Cow<'_, str> {
    if v.starts_with(FORMULA_START) {
        format!("'{v}").into()
    } else {
        v.into()
    }
}

/// The value a defused cell came from (a `'` before anything else is the user's own).
pub fn undefuse(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_START) => rest,
        _ => v,
    }
}

/// What writing a record can fail with (never in practice: the output is memory).
pub type Error = ::csv::Error;

/// Builds an export file in memory: BOM, then `;`-separated records of defused cells.
pub struct Writer {
    inner: ::csv::Writer<Vec<u8>>,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        Self {
            inner: ::csv::WriterBuilder::new()
                .delimiter(b';')
                .from_writer(BOM.to_vec()),
        }
    }

    /// Appends one record; every cell is defused (there is no way to write a live cell).
    pub fn record<I, T>(&mut self, cells: I) -> Result<(), ::csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.inner
            .write_record(cells.into_iter().map(|c| defuse(c.as_ref()).into_owned()))
    }

    /// The file's bytes.
    pub fn finish(self) -> Result<Vec<u8>, ::csv::Error> {
        self.inner
            .into_inner()
            .map_err(|e| ::csv::Error::from(e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_restored() {
        assert_eq!(defuse("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(defuse("+33 1 02"), "'+33 1 02");
        assert_eq!(defuse("\tx"), "'\tx");
        assert_eq!(defuse("Dupont"), "Dupont");
        assert_eq!(undefuse("'+33 1 02"), "+33 1 02");
        assert_eq!(undefuse("'quoted"), "'quoted");
    }

    #[test]
    fn records_are_bom_prefixed_quoted_and_defused() {
        let mut w = Writer::new();
        w.record(["a;b", "=1+1", "say \"hi\""]).unwrap();
        w.record(["-2", "plain", ""]).unwrap();
        let out = w.finish().unwrap();
        let text = std::str::from_utf8(out.strip_prefix(BOM).unwrap()).unwrap();
        assert_eq!(text, "\"a;b\";'=1+1;\"say \"\"hi\"\"\"\n'-2;plain;\n");
    }
}
