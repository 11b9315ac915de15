//! Path patterns of declared routes (`/commerce/v1/orders/{id}/validation`): parsed once when
//! the table is built, matched segment by segment, and filled to build the upstream path.

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Lit(String),
    /// Index into the pattern's parameter names.
    Param(usize),
}

/// A parsed path pattern.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    segs: Vec<Seg>,
    names: Vec<String>,
}

/// Longest path parameter accepted (ids, account numbers).
const MAX_PARAM: usize = 200;

/// Whether a parameter's value may be matched and copied into an upstream path as is: letters,
/// digits and `.`, `_`, `~`, `-` (RFC 3986's unreserved set), not `.` or `..`. Anything else
/// (an encoded slash, a space, a dot-segment) does not match, so it can never change which
/// upstream resource is called.
fn param_ok(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_PARAM
        && v != "."
        && v != ".."
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

fn name_ok(n: &str) -> bool {
    n.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Pattern {
    /// Parses `/a/{b}/c`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| format!("{s:?} must start with /"))?;
        let mut segs = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for seg in rest.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                if !name_ok(name) {
                    return Err(format!(
                        "{s:?}: parameter {{{name}}} must be lowercase letters, digits and _"
                    ));
                }
                if names.iter().any(|n| n == name) {
                    return Err(format!("{s:?}: parameter {{{name}}} appears twice"));
                }
                names.push(name.to_owned());
                segs.push(Seg::Param(names.len() - 1));
            } else if seg.is_empty() || !param_ok(seg) {
                return Err(format!(
                    "{s:?}: segment {seg:?} must be non-empty letters, digits, '.', '_', '~', '-' or a {{parameter}}"
                ));
            } else {
                segs.push(Seg::Lit(seg.to_owned()));
            }
        }
        Ok(Pattern { segs, names })
    }

    /// Matches nothing (stands in for a pattern that did not parse while the other fields of a
    /// route are still checked).
    pub fn empty() -> Pattern {
        Pattern {
            segs: vec![Seg::Lit(String::new())],
            names: Vec::new(),
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The parameters' values (in [`Pattern::names`] order) when `path` matches.
    pub fn matches(&self, path: &str) -> Option<Vec<String>> {
        let rest = path.strip_prefix('/')?;
        let mut values = vec![String::new(); self.names.len()];
        let mut parts = rest.split('/');
        for seg in &self.segs {
            let part = parts.next()?;
            match seg {
                Seg::Lit(l) if l == part => {}
                Seg::Lit(_) => return None,
                Seg::Param(i) if param_ok(part) => {
                    if let Some(v) = values.get_mut(*i) {
                        part.clone_into(v);
                    }
                }
                Seg::Param(_) => return None,
            }
        }
        parts.next().is_none().then_some(values)
    }

    /// The path with each parameter of `self` replaced by its value in `from` (a pattern whose
    /// names include ours: checked when the table is built).
    pub fn fill(&self, from: &Pattern, values: &[String]) -> String {
        let mut out = String::new();
        for seg in &self.segs {
            out.push('/');
            match seg {
                Seg::Lit(l) => out.push_str(l),
                Seg::Param(i) => {
                    let name = self.names.get(*i).map(String::as_str);
                    let v = from
                        .names
                        .iter()
                        .position(|n| Some(n.as_str()) == name)
                        .and_then(|j| values.get(j));
                    out.push_str(v.map_or("", String::as_str));
                }
            }
        }
        out
    }

    /// A path this pattern matches (each parameter replaced by `x`), to find the built-in
    /// services a declared route would shadow.
    pub fn sample(&self) -> String {
        let values = vec!["x".to_owned(); self.names.len()];
        self.fill(self, &values)
    }

    /// Whether two patterns match exactly the same paths.
    pub fn same_shape(&self, other: &Pattern) -> bool {
        self.segs.len() == other.segs.len()
            && self
                .segs
                .iter()
                .zip(&other.segs)
                .all(|(a, b)| match (a, b) {
                    (Seg::Lit(x), Seg::Lit(y)) => x == y,
                    (Seg::Param(_), Seg::Param(_)) => true,
                    _ => false,
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_and_fills() {
        let p = Pattern::parse("/shop/{account}/orders/{id}/validation").unwrap();
        assert_eq!(p.names(), ["account", "id"]);
        let v = p.matches("/shop/123456/orders/O-7/validation").unwrap();
        assert_eq!(v, ["123456", "O-7"]);
        let up = Pattern::parse("/v1/orders/{id}").unwrap();
        assert_eq!(up.fill(&p, &v), "/v1/orders/O-7");
        assert_eq!(p.sample(), "/shop/x/orders/x/validation");
        for bad in [
            "/shop/123456/orders//validation",
            "/shop/123456/orders/../validation",
            "/shop/123456/orders/a%2Fb/validation",
            "/shop/123456/orders/O-7/validation/",
            "/shop/123456/orders/O-7",
            "shop/123456/orders/O-7/validation",
        ] {
            assert_eq!(p.matches(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_bad_patterns() {
        for bad in ["orders", "/a//b", "/a/{B}", "/a/{x}/{x}", "/a/b c", "/{}"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        let a = Pattern::parse("/a/{x}").unwrap();
        assert!(a.same_shape(&Pattern::parse("/a/{y}").unwrap()));
        assert!(!a.same_shape(&Pattern::parse("/a/y").unwrap()));
    }
}
