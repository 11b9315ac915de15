//! What the API reads, shared by several resources: the profile fields of the seeds' forms
//! (flattened into each form that carries them) and the checks every handler applies to its
//! input. A resource's own request types sit next to its handlers.

use serde::Deserialize;
use sesame_domain::{Civility, Email, Profile};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The identity fields of the creation forms (seed 000 §4, §5.1), with the e-mail confirmation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileForm {
    #[serde(default)]
    civility: Option<Civility>,
    last_name: String,
    first_name: String,
    function: String,
    phone: String,
    email: Email,
    email_confirmation: String,
    #[serde(default)]
    fax: Option<String>,
    address: String,
    postal_code: String,
    city: String,
    #[serde(default)]
    country: Option<String>,
}

impl ProfileForm {
    /// The profile, once the e-mail confirmation matches. No fax is an empty fax; no country is
    /// France.
    pub fn into_profile(self) -> ApiResult<Profile> {
        check_email_confirmation(&self.email, &self.email_confirmation)?;
        Ok(Profile {
            civility: self.civility,
            last_name: self.last_name,
            first_name: self.first_name,
            function: self.function,
            phone: self.phone,
            email: Some(self.email),
            fax: self.fax.filter(|f| !f.trim().is_empty()),
            address: self.address,
            postal_code: self.postal_code,
            city: self.city,
            country: self.country.unwrap_or_else(|| "France".into()),
        })
    }
}

/// The identity fields of the edit forms: each one optional, changed only when given.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProfileEdit {
    civility: Option<Civility>,
    last_name: Option<String>,
    first_name: Option<String>,
    function: Option<String>,
    phone: Option<String>,
    email: Option<Email>,
    email_confirmation: Option<String>,
    fax: Option<String>,
    address: Option<String>,
    postal_code: Option<String>,
    city: Option<String>,
    country: Option<String>,
}

impl ProfileEdit {
    /// The edited fields over `current`; a new e-mail needs its confirmation.
    pub fn apply(&self, current: &Profile) -> ApiResult<Profile> {
        let mut p = current.clone();
        if let Some(c) = self.civility {
            p.civility = Some(c);
        }
        for (dst, v) in [
            (&mut p.last_name, &self.last_name),
            (&mut p.first_name, &self.first_name),
            (&mut p.function, &self.function),
            (&mut p.phone, &self.phone),
            (&mut p.address, &self.address),
            (&mut p.postal_code, &self.postal_code),
            (&mut p.city, &self.city),
            (&mut p.country, &self.country),
        ] {
            if let Some(v) = v {
                dst.clone_from(v);
            }
        }
        if let Some(f) = &self.fax {
            p.fax = Some(f.clone()).filter(|f| !f.trim().is_empty());
        }
        if let Some(e) = &self.email {
            if current.email.as_ref() != Some(e) {
                let conf = self.email_confirmation.as_deref().ok_or_else(|| {
                    ApiError::invalid(
                        "emailConfirmation",
                        "emailConfirmation: required when the e-mail changes",
                    )
                })?;
                check_email_confirmation(e, conf)?;
            }
            p.email = Some(e.clone());
        }
        Ok(p)
    }
}

/// The confirmation names the same address (compared as parsed when it parses).
fn check_email_confirmation(email: &Email, confirmation: &str) -> ApiResult<()> {
    let confirmation = Email::parse(confirmation)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| confirmation.to_owned());
    if email.as_str().trim() != confirmation.trim() {
        return Err(ApiError::invalid(
            "emailConfirmation",
            "emailConfirmation: does not match",
        ));
    }
    Ok(())
}

/// A new password (at most 128 characters) and its confirmation.
pub fn check_new_password(password: &str, confirmation: &str) -> ApiResult<()> {
    check_text("password", password, 128)?;
    if password != confirmation {
        return Err(ApiError::invalid(
            "passwordConfirmation",
            "passwordConfirmation: does not match",
        ));
    }
    Ok(())
}

/// The language of a mail: the request's (`fr` or `en`) or the configured default.
pub fn lang_of(state: &AppState, lang: Option<&str>) -> ApiResult<String> {
    match lang {
        None => Ok(state.cfg.default_lang.clone()),
        Some(l) if l == "fr" || l == "en" => Ok(l.to_owned()),
        Some(_) => Err(ApiError::invalid("lang", "lang: must be 'fr' or 'en'")),
    }
}

/// A user id from the path: anything else is an unknown user.
pub fn parse_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>().map_err(|_| ApiError::NotFound("user"))
}

/// At most `max` characters.
pub fn check_text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field}: must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A comment of at most 500 characters, if any.
pub fn check_comment(comment: Option<&str>) -> ApiResult<()> {
    check_text("comment", comment.unwrap_or(""), 500)
}

/// Enabling or disabling an account or a user, with a comment for the audit log.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusIn {
    pub enabled: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

/// An edit of a user: its identity (when the editor owns it) and its link.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserEditIn {
    #[serde(flatten, deserialize_with = "crate::extract::flattened")]
    pub profile: ProfileEdit,
    /// An empty string removes the tag.
    pub tag: Option<String>,
    pub rights: Option<sesame_domain::RightSet>,
    pub department_id: Option<i64>,
}
