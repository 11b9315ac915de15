//! Identifiers: parse-don't-validate newtypes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

macro_rules! string_newtype_serde {
    ($ty:ident, $field:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $ty::parse(&s).map_err(serde::de::Error::custom)
            }
        }
        impl std::str::FromStr for $ty {
            type Err = FieldError;
            fn from_str(s: &str) -> Result<Self, FieldError> {
                $ty::parse(s)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A client account number: exactly six ASCII digits (the Colissimo Box login).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountNumber([u8; 6]);

impl AccountNumber {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let b = s.trim().as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return Err(FieldError::new("accountNumber", "must be exactly 6 digits"));
        }
        let mut out = [0u8; 6];
        out.copy_from_slice(b);
        Ok(Self(out))
    }
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("000000")
    }
    /// The number as an integer, handy for compact maps.
    pub fn as_u32(&self) -> u32 {
        self.0
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    }
}
impl fmt::Debug for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountNumber({})", self.as_str())
    }
}
string_newtype_serde!(AccountNumber, "accountNumber");

fn parse_hex32(s: &str, field: &'static str) -> Result<[u8; 32], FieldError> {
    let b = s.trim().as_bytes();
    if b.len() != 32 {
        return Err(FieldError::new(field, "must be 32 hexadecimal characters"));
    }
    let mut out = [0u8; 32];
    // Branch-free over the 32 bytes (the compiler vectorises it): every request with a key
    // parses one.
    let mut bad = false;
    for (o, c) in out.iter_mut().zip(b) {
        // Keys are printed uppercase, but people retype them: accept lowercase and normalise.
        let up = c.to_ascii_uppercase();
        bad |= !(up.is_ascii_digit() || (b'A'..=b'F').contains(&up));
        *o = up;
    }
    if bad {
        return Err(FieldError::new(field, "must be 32 hexadecimal characters"));
    }
    Ok(out)
}

fn random_hex32() -> [u8; 32] {
    use rand::RngCore;
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let mut out = [0u8; 32];
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, byte) in raw.iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

/// A user key: public, unique, 32 uppercase hex characters. The only way to find an advanced
/// user when associating it with another account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey([u8; 32]);

impl UserKey {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        parse_hex32(s, "userKey").map(Self)
    }
    pub fn generate() -> Self {
        Self(random_hex32())
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}
impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserKey({})", self.as_str())
    }
}
string_newtype_serde!(UserKey, "userKey");

/// A connection key ("clé de connexion au WS"): secret, 32 uppercase hex characters.
///
/// Deliberately not `Serialize` and not `Display`: the clear key may only leave the process in
/// the one answer that creates or regenerates it, through [`ConnectionKey::expose`]. `Debug`
/// redacts it so it can never reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionKey([u8; 32]);

impl ConnectionKey {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        parse_hex32(s, "apiKey").map(Self)
    }
    /// Parses raw bytes as they arrive on the wire, without allocating.
    pub fn parse_bytes(b: &[u8]) -> Result<Self, FieldError> {
        std::str::from_utf8(b)
            .map_err(|_| FieldError::new("apiKey", "must be 32 hexadecimal characters"))
            .and_then(Self::parse)
    }
    pub fn generate() -> Self {
        Self(random_hex32())
    }
    /// The clear key, for the one answer that hands it to its holder.
    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}
impl fmt::Debug for ConnectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionKey(<redacted>)")
    }
}

/// HMAC-SHA-256 of a connection key under the server secret: what the database stores and what
/// the gateway's cache is keyed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}
impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to correlate log lines, and is useless for guessing.
        write!(f, "KeyHash({}…)", &hex::encode(&self.0[..4]))
    }
}

/// A login: 3–64 characters among letters, digits, `.`, `-`, `_` and `@`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Login(String);

impl Login {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        if !(3..=64).contains(&s.chars().count()) {
            return Err(FieldError::new("login", "must be 3 to 64 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        {
            return Err(FieldError::new(
                "login",
                "may contain only letters, digits, '.', '-', '_' and '@'",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Six digits are account numbers: user logins must not look like one, so that the account
    /// admin sign-in and user sign-in can never be confused.
    pub fn looks_like_account(&self) -> bool {
        AccountNumber::parse(&self.0).is_ok()
    }
}
impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({})", self.0)
    }
}
string_newtype_serde!(Login, "login");

/// An e-mail address, checked for shape (one `@`, a dotted domain, no spaces), lowercased domain.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        let err = || FieldError::new("email", "is not a valid e-mail address");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err());
        }
        let (local, domain) = s.split_once('@').ok_or_else(err)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(err());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}
string_newtype_serde!(Email, "email");

/// A user tag ("tag utilisateur"): the term stamped on parcels and carried by a user.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 35 {
            return Err(FieldError::new("tag", "must be 1 to 35 characters"));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(FieldError::new(
                "tag",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}
string_newtype_serde!(Tag, "tag");

/// A parcel number ("cab"): 8 to 20 uppercase letters and digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParcelNumber(String);

impl ParcelNumber {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        if !(8..=20).contains(&s.len()) || !s.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err(FieldError::new(
                "parcelNumber",
                "must be 8 to 20 letters or digits",
            ));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for ParcelNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParcelNumber({})", self.0)
    }
}
string_newtype_serde!(ParcelNumber, "parcelNumber");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers_are_six_digits() {
        assert_eq!(
            AccountNumber::parse("900138").map(|a| a.as_u32()),
            Ok(900138)
        );
        assert_eq!(
            AccountNumber::parse(" 012345 ")
                .map(|a| a.to_string())
                .as_deref(),
            Ok("012345")
        );
        for bad in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦"] {
            let e = AccountNumber::parse(bad).unwrap_err();
            assert_eq!(e.field, "accountNumber", "{bad}");
        }
    }

    #[test]
    fn keys_normalise_case_and_reject_other_shapes() {
        let k = UserKey::parse("294c1ba031c165e0cad069ae7bffd89e").unwrap();
        assert_eq!(k.as_str(), "294C1BA031C165E0CAD069AE7BFFD89E");
        assert!(UserKey::parse("294C1BA031C165E0CAD069AE7BFFD89").is_err());
        assert!(UserKey::parse("294C1BA031C165E0CAD069AE7BFFD89G").is_err());
        let c = ConnectionKey::generate();
        assert_eq!(c.expose().len(), 32);
        assert!(c
            .expose()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        assert_ne!(c, ConnectionKey::generate());
        assert_eq!(format!("{c:?}"), "ConnectionKey(<redacted>)");
    }

    #[test]
    fn logins_emails_tags() {
        assert!(Login::parse("jean.dupont").is_ok());
        assert!(Login::parse("ab").is_err());
        assert!(Login::parse("jean dupont").is_err());
        assert!(Login::parse("900138").unwrap().looks_like_account());
        assert_eq!(
            Email::parse("Jean@LaPoste.FR").unwrap().as_str(),
            "Jean@laposte.fr"
        );
        for bad in [
            "jean",
            "jean@",
            "@laposte.fr",
            "jean@laposte",
            "a b@c.fr",
            "a@b@c.fr",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Tag::parse("").is_err());
        assert!(Tag::parse("ENTREPOT-NORD").is_ok());
        assert!(ParcelNumber::parse("6a14091083866").is_ok());
        assert!(ParcelNumber::parse("6A1409108386'").is_err());
    }

    #[test]
    fn serde_goes_through_parse() {
        let a: AccountNumber = serde_json::from_str("\"900138\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"900138\"");
        let e = serde_json::from_str::<AccountNumber>("\"9001\"").unwrap_err();
        assert!(e.to_string().contains("accountNumber"));
    }
}
