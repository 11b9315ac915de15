//! The admin API's answers to a stranger's input: the JSON body parser of every endpoint
//! (malformed → 400, wrong shape → 422 naming the field) and the HTML pages the e-mail links
//! open (invitation form pre-filled with what an admin typed, reset form, error page); the first
//! byte picks which.
//! Invariants: no panic; errors are 400/422 with a field for 422; pages hold exactly the markup
//! of the same page rendered from harmless text, and escaped text has no `<`, `>`, `"`, `'`.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sesame_admin::fuzzing;
use sesame_domain::Profile;

/// Counts of `<`, `>`, `"` and `'`. A byte histogram rather than four searches: every comparison
/// in an instrumented build calls into libFuzzer, and pages are a few KiB.
fn markup(html: &[u8]) -> [usize; 4] {
    let mut n = [0usize; 256];
    for b in html {
        n[usize::from(*b)] += 1;
    }
    [b'<', b'>', b'"', b'\''].map(|c| n[usize::from(c)])
}

fn plain(s: &str) -> String {
    "x".repeat(s.chars().count())
}

fn profile(f: &[String; 9]) -> Profile {
    Profile {
        last_name: f[0].clone(),
        first_name: f[1].clone(),
        function: f[2].clone(),
        phone: f[3].clone(),
        email: sesame_domain::Email::parse(&f[4]).ok(),
        address: f[5].clone(),
        postal_code: f[6].clone(),
        city: f[7].clone(),
        country: f[8].clone(),
        ..Profile::default()
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks what runs (one parse or one page per execution keeps the target fast
    // enough for millions of runs).
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        // Every JSON endpoint's body parser, on a profile (the invitation and user forms).
        if let Err(e) = fuzzing::parse_json::<Profile>(data) {
            assert!(e.status == 400 || e.status == 422, "{}", e.status);
            if e.status == 422 {
                assert!(e.field.as_deref().is_some_and(|f| !f.is_empty()));
            }
        }
        return;
    }

    let mut u = Unstructured::new(data);
    let Ok((company, fields, rights)) = <(String, [String; 9], Vec<String>)>::arbitrary(&mut u)
    else {
        return;
    };
    for s in [&company].into_iter().chain(&fields).chain(&rights) {
        let e = fuzzing::escape(s);
        assert!(!e.contains(['<', '>', '"', '\'']), "{e:?}");
    }
    match (sel >> 1) % 3 {
        0 => {
            let p = profile(&fields);
            let page = fuzzing::invitation_page(&company, &p, &rights);
            // The harmless twin keeps an e-mail only if the real one parsed (same form either way).
            let mut clean = fields.clone().map(|f| plain(&f));
            clean[4] = if p.email.is_some() {
                "x@x.fr".into()
            } else {
                String::new()
            };
            let clean_rights: Vec<String> = rights.iter().map(|r| plain(r)).collect();
            let reference =
                fuzzing::invitation_page(&plain(&company), &profile(&clean), &clean_rights);
            assert_eq!(markup(&page), markup(&reference), "invitation page");
        }
        1 => assert_eq!(
            markup(&fuzzing::reset_page(&company)),
            markup(&fuzzing::reset_page(&plain(&company))),
            "reset page"
        ),
        _ => assert_eq!(
            markup(&fuzzing::error_page(&company)),
            markup(&fuzzing::error_page(&plain(&company))),
            "error page"
        ),
    }
});
