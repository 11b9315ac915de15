//! The two pages a link in an e-mail opens in a browser (`Accept: text/html`): the invitation's
//! confirmation form (seed 000 §5.1) and the password-reset form. Both post JSON to the same URL,
//! so the API stays the single implementation.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiResult;

pub fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Escapes text for HTML bodies and quoted attributes (`&`, `<`, `>`, `"`, `'`).
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_quoted_attribute(s)
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}\
         label{{display:block;margin:.6em 0 .2em}}input{{width:100%;padding:.4em}}button{{margin-top:1em;padding:.5em 1.5em}}\
         #out{{margin-top:1em;white-space:pre-wrap}}.err{{color:#b00}}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The token is in the URL: never send it to another site.
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
        .into_response()
}

/// A public token link opened (`GET`): what the token found, as `render` shows it (told whether
/// the caller is a browser); a refusal is the error page for a browser, the JSON error otherwise.
pub async fn token_page<T, F>(
    headers: &axum::http::HeaderMap,
    found: ApiResult<T>,
    render: impl FnOnce(T, bool) -> F,
) -> ApiResult<Response>
where
    F: std::future::Future<Output = ApiResult<Response>>,
{
    let browser = wants_html(headers);
    match found {
        Ok(x) => render(x, browser).await,
        Err(e) if browser => Ok((e.status(), error_page(&e.message())).into_response()),
        Err(e) => Err(e),
    }
}

pub fn error_page(message: &str) -> Response {
    page(
        "Gestion des utilisateurs",
        &format!("<p class=\"err\">{}</p>", escape(message)),
    )
}

const SCRIPT: &str = "<script>\
document.getElementById('f').addEventListener('submit',async e=>{e.preventDefault();\
const o={};for(const[k,v]of new FormData(e.target).entries()){if(v!=='')o[k]=v;}\
const r=await fetch(location.pathname,{method:'POST',headers:{'content-type':'application/json','accept':'application/json'},body:JSON.stringify(o)});\
const out=document.getElementById('out');let j={};try{j=await r.json();}catch(_){}\
if(r.ok){e.target.hidden=true;out.className='';out.textContent=DONE(j);}\
else{out.className='err';out.textContent=(j.error&&j.error.message)||('Erreur '+r.status);}});</script>";

fn field(name: &str, label: &str, value: &str, kind: &str) -> String {
    format!(
        "<label for=\"{n}\">{l}</label><input id=\"{n}\" name=\"{n}\" type=\"{k}\" value=\"{v}\">",
        n = name,
        l = escape(label),
        k = kind,
        v = escape(value)
    )
}

/// The password and its confirmation, the submit button and the place for the answer.
fn finish_form(form: &mut String, password_label: &str) {
    form.push_str(&field("password", password_label, "", "password"));
    form.push_str(&field(
        "passwordConfirmation",
        "Confirmer Mot de passe*",
        "",
        "password",
    ));
    form.push_str("<button type=\"submit\">Enregistrer</button></form><div id=\"out\"></div>");
}

/// The confirmation form, pre-filled with what the admin entered.
pub fn invitation_page(
    company: &str,
    profile: &sesame_domain::Profile,
    rights: &[String],
) -> Response {
    let email = profile.email.as_ref().map(|e| e.as_str()).unwrap_or("");
    let mut form = String::from("<form id=\"f\">");
    for (n, l, v) in [
        ("lastName", "Nom*", profile.last_name.as_str()),
        ("firstName", "Prénom*", profile.first_name.as_str()),
        ("function", "Fonction*", profile.function.as_str()),
        ("phone", "Téléphone*", profile.phone.as_str()),
        ("email", "Email*", email),
        ("emailConfirmation", "Confirmer Email*", email),
        ("address", "Adresse géographique*", profile.address.as_str()),
        ("postalCode", "Code postal*", profile.postal_code.as_str()),
        ("city", "Ville*", profile.city.as_str()),
    ] {
        form.push_str(&field(n, l, v, "text"));
    }
    form.push_str(&field("login", "Identifiant*", "", "text"));
    finish_form(&mut form, "Mot de passe*");
    let list: String = rights
        .iter()
        .map(|r| format!("<li>{}</li>", escape(r)))
        .collect();
    let body = format!(
        "<p>Une demande de création de compte utilisateur a été faite par <b>{}</b>. Complétez votre identifiant \
         et votre mot de passe pour finaliser la création de votre compte.</p><p>Droits attribués :</p><ul>{list}</ul>{form}{}",
        escape(company),
        SCRIPT.replace(
            "DONE(j)",
            "'Votre compte est actif.\\n\\nClé utilisateur : '+j.userKey+'\\nClé de connexion au WS : '+j.connectionKey+\
             '\\n\\nCette clé de connexion n\\'est affichée qu\\'une fois : conservez-la.'"
        )
    );
    page("Confirmation de création de compte", &body)
}

pub fn reset_page(login: &str) -> Response {
    let mut form = String::from("<form id=\"f\">");
    finish_form(&mut form, "Nouveau mot de passe*");
    let body = format!(
        "<p>Identifiant : <b>{}</b></p>{form}{}",
        escape(login),
        SCRIPT.replace("DONE(j)", "'Votre mot de passe a été modifié.'")
    );
    page("Nouveau mot de passe", &body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(
            super::escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
